// registry-oracle: what a registry built from distribution reads from a request the gateway
// forwards, computed with the registry's own code (Debian's golang-github-docker-distribution-dev
// 2.8.2, the source of the docker-registry the tests run; gorilla/mux 1.8.0) and Go's standard
// library (golang-go 1.19): a real net/http server reads the bytes (request line, headers, Host
// checks, url.ParseRequestURI's url.Path), distribution's own router v2.Router() picks the route
// and its variables (gorilla/mux on the decoded path: an unclean path and a StrictSlash miss are
// answered with a redirect, not served), and the blob-upload handler's r.FormValue("from") and
// r.FormValue("mount") are read as handlers/blobupload.go reads them (a POST, PUT or PATCH body
// with a form Content-Type is read as a form first).
//
// A test tool, never shipped. tests/oracle/registry/run.sh builds it; imagegate-gateway-
// differential compares imagegate's reading of the same requests with it (docs/reading-
// requests.md, "The gateway's reading"). Modes:
//
//	registry-oracle gen -n N -seed S   N raw requests (base64 lines) mutated from the seed requests
//	registry-oracle read               lines "RAW FORWARDED" (base64 each; FORWARDED "-" when the
//	                                   gateway did not forward it): one JSON line each, the
//	                                   registry's reading of FORWARDED
//
// Which methods each route's handler serves is mirrored from handlers/{manifests,blob,
// blobupload,tags,catalog}.go (the MethodHandler tables, registry not read-only).
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	v2 "github.com/docker/distribution/registry/api/v2"
	"github.com/gorilla/mux"
)

// Reading is one request as the registry reads it.
type Reading struct {
	Raw       string `json:"raw"`                 // the request as the client sent it (base64)
	Forwarded bool   `json:"forwarded"`           // the gateway forwarded it (else nothing more)
	Refused   string `json:"refused,omitempty"`   // net/http answered without a handler (400 ...)
	Method    string `json:"method,omitempty"`    // r.Method
	Path      string `json:"path,omitempty"`      // r.URL.Path
	RawQuery  string `json:"rawQuery,omitempty"`  // r.URL.RawQuery
	Status    int    `json:"status,omitempty"`    // the router's answer when no route ran (301, 404, 405)
	Route     string `json:"route,omitempty"`     // the v2 route whose handler ran
	Served    bool   `json:"served"`              // that handler serves this method
	Name      string `json:"name,omitempty"`      // mux.Vars: name, reference, digest, uuid
	Reference string `json:"reference,omitempty"` //
	Digest    string `json:"digest,omitempty"`    //
	UUID      string `json:"uuid,omitempty"`      //
	// r.FormValue("from") and r.FormValue("mount") as StartBlobUpload reads them (POST on
	// blob-upload or blob-upload-chunk), and whether a form body gave a value.
	From     string `json:"from,omitempty"`
	Mount    string `json:"mount,omitempty"`
	FormBody bool   `json:"formBody,omitempty"`
}

// The methods each route's handler serves (handlers/*.go, MethodHandler; not read-only).
var served = map[string][]string{
	v2.RouteNameBase:            {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}, // apiBase: any
	v2.RouteNameManifest:        {"GET", "HEAD", "PUT", "DELETE"},
	v2.RouteNameBlob:            {"GET", "HEAD", "DELETE"},
	v2.RouteNameBlobUpload:      {"GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"},
	v2.RouteNameBlobUploadChunk: {"GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"},
	v2.RouteNameTags:            {"GET"},
	v2.RouteNameCatalog:         {"GET"},
}

// One request at a time goes through the server; the handler fills `current`.
type oracle struct {
	listener *pipeListener
	mu       sync.Mutex
	current  *Reading
	done     chan struct{}
}

type pipeListener struct{ conns chan net.Conn }

func (l *pipeListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, errors.New("closed")
	}
	return c, nil
}
func (l *pipeListener) Close() error   { return nil }
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "registry.example:443" }

func newOracle() *oracle {
	o := &oracle{listener: &pipeListener{conns: make(chan net.Conn)}}
	router := v2.Router()
	for route := range served {
		route := route
		router.GetRoute(route).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o.route(route, w, r)
		}))
	}
	server := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				// gorilla/mux 1.8.0 panics on a StrictSlash redirect of a URL it cannot parse
				// again (a '#' and a bad escape after it); the server drops the connection.
				if p := recover(); p != nil {
					o.mu.Lock()
					o.current.Refused = fmt.Sprintf("the router panicked (no answer): %v", p)
					if o.done != nil {
						close(o.done)
						o.done = nil
					}
					o.mu.Unlock()
					panic(p)
				}
			}()
			rec := &statusWriter{ResponseWriter: w}
			router.ServeHTTP(rec, r)
			o.mu.Lock()
			if o.current.Route == "" {
				o.current.Method, o.current.Path, o.current.RawQuery = r.Method, r.URL.Path, r.URL.RawQuery
				o.current.Status = rec.status
			}
			if o.done != nil { // one request a connection: a second one is not read
				close(o.done)
				o.done = nil
			}
			o.mu.Unlock()
		}),
		ReadTimeout: 5 * time.Second,
		IdleTimeout: time.Millisecond, // an answer without a handler (OPTIONS *): then close
		ErrorLog:    log.New(io.Discard, "", 0),
	}
	go server.Serve(o.listener)
	return o
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// The route's handler ran: what it acts on.
func (o *oracle) route(route string, w http.ResponseWriter, r *http.Request) {
	vars := mux.Vars(r)
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.current
	c.Method, c.Path, c.RawQuery = r.Method, r.URL.Path, r.URL.RawQuery
	c.Route = route
	c.Name, c.Reference, c.Digest, c.UUID = vars["name"], vars["reference"], vars["digest"], vars["uuid"]
	for _, m := range served[route] {
		c.Served = c.Served || m == r.Method
	}
	if (route == v2.RouteNameBlobUpload || route == v2.RouteNameBlobUploadChunk) && r.Method == "POST" {
		// handlers/blobupload.go, StartBlobUpload (and app.authorized when an access controller
		// is configured): the same calls, so the same body reading.
		c.From = r.FormValue("from")
		c.Mount = r.FormValue("mount")
		c.FormBody = len(r.PostForm) > 0 || (r.MultipartForm != nil && len(r.MultipartForm.Value) > 0)
	}
	w.WriteHeader(http.StatusAccepted)
}

// read has the server read FORWARDED (the bytes the gateway sends the registry).
func (o *oracle) read(raw, forwarded []byte) Reading {
	reading := Reading{Raw: base64.StdEncoding.EncodeToString(raw)}
	if forwarded == nil {
		return reading
	}
	reading.Forwarded = true
	o.mu.Lock()
	o.current = &reading
	o.done = make(chan struct{})
	done := o.done
	o.mu.Unlock()
	client, server := net.Pipe()
	o.listener.conns <- server
	go func() { client.Write(forwarded) }()
	answer := make(chan []byte, 1)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, client)
		answer <- b.Bytes()
	}()
	var response []byte
	select {
	case <-done:
	case response = <-answer: // the server answered (and closed) without calling the handler
		select {
		case <-done:
			response = nil
		default:
		}
	case <-time.After(10 * time.Second):
		reading.Refused = "timeout: the server neither answered nor called the handler"
	}
	client.Close()
	if response != nil {
		line := string(response)
		if i := strings.IndexAny(line, "\r\n"); i >= 0 {
			line = line[:i]
		}
		reading.Refused = "net/http: " + line
	}
	o.mu.Lock()
	o.current = &Reading{} // a late handler call writes nowhere that matters
	o.mu.Unlock()
	return reading
}

func emit(w *bufio.Writer, r Reading) {
	b, _ := json.Marshal(r)
	w.Write(b)
	w.WriteByte('\n')
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: registry-oracle gen -n N -seed S | registry-oracle read < 'RAW FORWARDED' lines")
		os.Exit(2)
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer w.Flush()
	switch os.Args[1] {
	case "read":
		o := newOracle()
		in := bufio.NewScanner(os.Stdin)
		in.Buffer(make([]byte, 16<<20), 16<<20)
		for in.Scan() {
			fields := strings.Fields(in.Text())
			if len(fields) == 0 || len(fields) > 2 {
				fmt.Fprintln(os.Stderr, "registry-oracle read: a line is not 'RAW [FORWARDED]'")
				os.Exit(2)
			}
			raw, err := base64.StdEncoding.DecodeString(fields[0])
			if err != nil {
				fmt.Fprintln(os.Stderr, "registry-oracle read: a line is not base64:", err)
				os.Exit(2)
			}
			var forwarded []byte
			if len(fields) == 1 {
				forwarded = raw // read as sent
			} else if fields[1] != "-" {
				if forwarded, err = base64.StdEncoding.DecodeString(fields[1]); err != nil {
					fmt.Fprintln(os.Stderr, "registry-oracle read: a line is not base64:", err)
					os.Exit(2)
				}
			}
			emit(w, o.read(raw, forwarded))
		}
	case "gen":
		flags := flag.NewFlagSet("gen", flag.ExitOnError)
		n := flags.Int("n", 1000, "requests to generate")
		seed := flags.Int64("seed", 1, "random seed")
		flags.Parse(os.Args[2:])
		g := newGenerator(*seed)
		for _, s := range seeds {
			fmt.Fprintln(w, base64.StdEncoding.EncodeToString(s.raw()))
		}
		for i := 0; i < *n; i++ {
			fmt.Fprintln(w, base64.StdEncoding.EncodeToString(g.next()))
		}
	default:
		fmt.Fprintln(os.Stderr, "registry-oracle: unknown mode", os.Args[1])
		os.Exit(2)
	}
}
