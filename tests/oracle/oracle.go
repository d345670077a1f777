// dockerd-oracle: what Debian's dockerd 20.10 reads from an Engine API request, computed with
// dockerd's own code (Debian's golang-github-docker-docker-dev, the source of the dockerd the
// tests run) and Go's standard library: net/http's request parser, ParseForm and FormValue,
// mime.ParseMediaType, the authz middleware (pkg/authorization: which headers and body the
// plugin is shown), httputils.CheckForJSON, runconfig's container decoder, and encoding/json
// into the API's own types (swarm.ServiceSpec, volume create, exec, update).
//
// A test tool, never shipped. tests/oracle/run.sh builds it and pipes it into
// imagegate-differential, which reads the same requests with imagegate's code and compares
// (docs/reading-requests.md). Modes:
//
//	dockerd-oracle read  < requests   one raw HTTP request per line, base64; one JSON line each
//	dockerd-oracle gen -n N -seed S CORPUS_DIR
//	                                  N requests mutated from the raw requests in CORPUS_DIR
//
// What the handlers do after decoding (the route, the version adjustments) is mirrored here
// from api/server/router/*: those packages need daemon packages Debian does not ship.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/docker/docker/api/server/httputils"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	networktypes "github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/versions"
	volumetypes "github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/pkg/authorization"
	"github.com/docker/docker/runconfig"
	"github.com/sirupsen/logrus"
)

// dockerd 20.10's api.DefaultVersion and api.MinVersion.
const defaultVersion = "1.41"
const minVersion = "1.12"

// capture is an authorization plugin that remembers what dockerd showed it and allows.
type capture struct{ seen *authorization.Request }

func (c *capture) Name() string { return "oracle" }
func (c *capture) AuthZRequest(r *authorization.Request) (*authorization.Response, error) {
	copied := *r
	c.seen = &copied
	return &authorization.Response{Allow: true}, nil
}
func (c *capture) AuthZResponse(r *authorization.Request) (*authorization.Response, error) {
	return &authorization.Response{Allow: true}, nil
}

// Settings is the security-relevant reading of a container, service task, exec or volume:
// the fields imagegate's decision uses (docs/reading-requests.md lists them).
type Settings struct {
	Image          *string             `json:"image,omitempty"`
	User           *string             `json:"user,omitempty"`
	HostPaths      []string            `json:"hostPaths,omitempty"`
	Volumes        []string            `json:"volumes,omitempty"`
	VolumeOptions  []map[string]string `json:"volumeOptions,omitempty"`
	Privileged     bool                `json:"privileged,omitempty"`
	HostNamespaces []string            `json:"hostNamespaces,omitempty"`
	HostNetwork    bool                `json:"hostNetwork,omitempty"`
	Networks       []string            `json:"networks,omitempty"`
	Joined         []string            `json:"joined,omitempty"`
	VolumesFrom    []string            `json:"volumesFrom,omitempty"`
	CapAdd         []string            `json:"capAdd,omitempty"`
	Devices        []string            `json:"devices,omitempty"`
	CgroupRules    []string            `json:"cgroupRules,omitempty"`
	SecurityOpt    []string            `json:"securityOpt,omitempty"`
	MaskedPaths    *[]string           `json:"maskedPaths,omitempty"`
	ReadonlyPaths  *[]string           `json:"readonlyPaths,omitempty"`
	Sysctls        []string            `json:"sysctls,omitempty"`
	Runtime        string              `json:"runtime,omitempty"`
}

// Reading is one request as dockerd reads it.
type Reading struct {
	Plugin json.RawMessage `json:"plugin"` // the AuthZ request dockerd sends the plugin, as sent
	// ParseMediaType of the Content-Type the plugin is shown (the last header), to compare
	// imagegate's own ParseMediaType with Go's exactly.
	PluginMediaType      string `json:"pluginMediaType"`
	PluginMediaTypeError bool   `json:"pluginMediaTypeError"`
	HasContentType       bool   `json:"hasContentType"`
	ContentTypeHeaders   int    `json:"contentTypeHeaders"`
	// dockerd's own view: Header.Get (the first header).
	MediaType      string             `json:"mediaType"`
	MediaTypeError bool               `json:"mediaTypeError"`
	BodyShown      bool               `json:"bodyShown"`
	FormBody       bool               `json:"formBody"` // ParseForm/FormValue took parameters from the body
	Endpoint       string             `json:"endpoint"`
	Version        string             `json:"version"`
	Refused        string             `json:"refused,omitempty"` // why dockerd would act on nothing
	Form           map[string]string  `json:"form,omitempty"`    // Form.Get / FormValue of the keys read
	Container      *Settings          `json:"container,omitempty"`
	Raw            string             `json:"raw"`
}

var versioned = regexp.MustCompile(`^/v([0-9.]+)(/.*)$`)

// The query and form keys the handlers imagegate decides on read.
var formKeys = []string{"fromImage", "tag", "repo", "fromSrc", "remote", "name", "t", "networkmode", "cachefrom", "container", "names"}

func read(raw []byte) Reading {
	out := Reading{Raw: base64.StdEncoding.EncodeToString(raw)}
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		out.Refused = "net/http: " + err.Error()
		return out
	}
	// (http.ReadRequest drops the Host header as the server does; the generator sends one.)
	if len(r.Header["Content-Type"]) > 0 {
		out.HasContentType = true
		values := r.Header["Content-Type"]
		out.ContentTypeHeaders = len(values)
		mt, _, err := mime.ParseMediaType(values[len(values)-1])
		out.PluginMediaType, out.PluginMediaTypeError = mt, err != nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	out.MediaType, out.MediaTypeError = mt, err != nil

	// The authz middleware, as dockerd runs it (api/server/middleware/authorization: the
	// request URI and method as received).
	plugin := &capture{}
	authz := authorization.NewCtx([]authorization.Plugin{plugin}, "", "", r.Method, r.RequestURI)
	if err := authz.AuthZRequest(httptest.NewRecorder(), r); err != nil || plugin.seen == nil {
		out.Refused = fmt.Sprintf("authz middleware: %v", err)
		return out
	}
	out.Plugin, _ = json.Marshal(plugin.seen)
	out.BodyShown = len(plugin.seen.RequestBody) > 0

	// gorilla/mux as dockerd configures it: matched on the decoded, clean path, with or
	// without "/v{version:[0-9.]+}"; the version middleware then checks the version.
	path := r.URL.Path
	if path != cleanPath(path) {
		out.Refused = "router: path is not clean (mux redirects)"
		return out
	}
	out.Version = defaultVersion
	if m := versioned.FindStringSubmatch(path); m != nil {
		out.Version, path = m[1], m[2]
	}
	if versions.LessThan(out.Version, minVersion) || versions.GreaterThan(out.Version, defaultVersion) {
		out.Refused = "version middleware: unsupported API version " + out.Version
		return out
	}
	out.Endpoint = r.Method + " " + path
	switch r.Method { // gorilla/mux matches a route's method exactly
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions:
	default:
		out.Refused = "router: no route for method " + r.Method
		return out
	}
	handle(r, path, &out)
	return out
}

func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	np := filepath.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

func parseForm(r *http.Request, out *Reading) bool {
	// Whether ParseForm takes parameters from the body: net/http's parsePostForm does for
	// POST, PUT and PATCH with media type application/x-www-form-urlencoded (its error ignored).
	if err := httputils.ParseForm(r); err != nil {
		out.Refused = "ParseForm: " + err.Error()
		return false
	}
	if len(r.PostForm) > 0 {
		out.FormBody = true
	}
	return true
}

func formValues(r *http.Request, out *Reading, viaFormValue bool) {
	out.Form = map[string]string{}
	for _, k := range formKeys {
		var v string
		if viaFormValue {
			v = r.FormValue(k) // parses multipart/form-data bodies too
		} else {
			v = r.Form.Get(k)
		}
		if v != "" {
			out.Form[k] = v
		}
	}
	if r.MultipartForm != nil && len(r.MultipartForm.Value) > 0 {
		out.FormBody = true
	}
}

func checkJSON(r *http.Request, out *Reading) bool {
	if err := httputils.CheckForJSON(r); err != nil {
		out.Refused = "CheckForJSON: " + err.Error()
		return false
	}
	return true
}

func decodeJSON(r *http.Request, v interface{}, out *Reading) bool {
	if r.Body == nil {
		out.Refused = "no body"
		return false
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		out.Refused = "decode: " + err.Error()
		return false
	}
	return true
}

func named(path, prefix, suffix string) bool {
	return strings.HasPrefix(path, prefix) && strings.HasSuffix(path, suffix) && len(path) > len(prefix)+len(suffix)
}

// handle mirrors the handlers of api/server/router for the endpoints imagegate decides on.
func handle(r *http.Request, path string, out *Reading) {
	post := r.Method == http.MethodPost
	switch {
	case post && path == "/containers/create":
		if !parseForm(r, out) || !checkJSON(r, out) {
			return
		}
		formValues(r, out, false)
		config, hostConfig, networking, err := runconfig.ContainerDecoder{}.DecodeConfig(r.Body)
		if err != nil {
			out.Refused = "DecodeConfig: " + err.Error()
			return
		}
		s := &Settings{Image: &config.Image, User: &config.User}
		hostSettings(hostConfig, s)
		if networking != nil {
			for name := range networking.EndpointsConfig {
				s.Networks = append(s.Networks, name)
			}
		}
		out.Container = finish(s)
	case post && named(path, "/containers/", "/start"):
		// postContainersStart: "A non-nil json object is at least 7 characters."
		if !parseForm(r, out) {
			return
		}
		formValues(r, out, false)
		if r.ContentLength > 7 || r.ContentLength == -1 {
			if versions.GreaterThanOrEqualTo(out.Version, "1.24") {
				out.Refused = "start: body on start with API >= 1.24"
				return
			}
			if !checkJSON(r, out) {
				return
			}
			hostConfig, err := runconfig.ContainerDecoder{}.DecodeHostConfig(r.Body)
			if err != nil {
				out.Refused = "DecodeHostConfig: " + err.Error()
				return
			}
			s := &Settings{}
			hostSettings(hostConfig, s)
			out.Container = finish(s)
		}
	case post && named(path, "/containers/", "/update"):
		if !parseForm(r, out) || !checkJSON(r, out) {
			return
		}
		var update container.UpdateConfig
		if !decodeJSON(r, &update, out) {
			return
		}
		s := &Settings{}
		resources(&update.Resources, s)
		out.Container = finish(s)
	case post && named(path, "/containers/", "/exec"):
		if !parseForm(r, out) || !checkJSON(r, out) {
			return
		}
		var exec types.ExecConfig
		if !decodeJSON(r, &exec, out) {
			return
		}
		out.Container = finish(&Settings{User: &exec.User, Privileged: exec.Privileged})
	// "/services/{id}/update": {id} is one path segment (gorilla/mux's [^/]+).
	case post && (path == "/services/create" || (named(path, "/services/", "/update") && strings.Count(path, "/") == 3)):
		if !parseForm(r, out) || !checkJSON(r, out) {
			return
		}
		var spec swarm.ServiceSpec
		if !decodeJSON(r, &spec, out) {
			return
		}
		out.Container = finish(serviceSettings(&spec))
	case post && path == "/volumes/create":
		if !parseForm(r, out) || !checkJSON(r, out) {
			return
		}
		var v volumetypes.VolumeCreateBody
		if !decodeJSON(r, &v, out) {
			return
		}
		s := &Settings{}
		if len(v.DriverOpts) > 0 {
			s.VolumeOptions = append(s.VolumeOptions, v.DriverOpts)
		}
		out.Container = finish(s)
	case post && (path == "/plugins/pull" || named(path, "/plugins/", "/upgrade") || path == "/plugins/create"):
		// plugin_routes.go reads "remote" and "name" with FormValue.
		if !parseForm(r, out) {
			return
		}
		formValues(r, out, true)
	default:
		// images/create, build, push, tag, commit, get ... read their parameters with Form.Get.
		if !parseForm(r, out) {
			return
		}
		formValues(r, out, false)
	}
}

func hostSettings(hc *container.HostConfig, s *Settings) {
	if hc == nil {
		return
	}
	// Binds: volume/mounts' Linux parser splits on ":"; a source that is an absolute path is
	// a host path, any other a volume name; one part alone is an anonymous volume.
	for _, b := range hc.Binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 {
			continue
		}
		if filepath.IsAbs(parts[0]) {
			s.HostPaths = append(s.HostPaths, parts[0])
		} else {
			s.Volumes = append(s.Volumes, parts[0])
		}
	}
	mounts(hc.Mounts, s)
	s.Privileged = hc.Privileged
	for _, ns := range []struct {
		name string
		host bool
	}{{"pid", hc.PidMode.IsHost()}, {"ipc", hc.IpcMode.IsHost()}, {"uts", hc.UTSMode.IsHost()},
		{"userns", hc.UsernsMode.IsHost()}, {"cgroupns", hc.CgroupnsMode.IsHost()}} {
		if ns.host {
			s.HostNamespaces = append(s.HostNamespaces, ns.name)
		}
	}
	s.HostNetwork = hc.NetworkMode.IsHost()
	if hc.NetworkMode.IsUserDefined() {
		s.Networks = append(s.Networks, hc.NetworkMode.NetworkName())
	}
	if hc.NetworkMode.IsContainer() {
		s.Joined = append(s.Joined, "network:"+hc.NetworkMode.ConnectedContainer())
	}
	if hc.PidMode.IsContainer() {
		s.Joined = append(s.Joined, "pid:"+hc.PidMode.Container())
	}
	if hc.IpcMode.IsContainer() {
		s.Joined = append(s.Joined, "ipc:"+hc.IpcMode.Container())
	}
	for _, v := range hc.VolumesFrom {
		s.VolumesFrom = append(s.VolumesFrom, strings.SplitN(v, ":", 2)[0])
	}
	s.CapAdd = append(s.CapAdd, hc.CapAdd...)
	resources(&hc.Resources, s)
	s.SecurityOpt = append(s.SecurityOpt, hc.SecurityOpt...)
	if hc.MaskedPaths != nil {
		s.MaskedPaths = &hc.MaskedPaths
	}
	if hc.ReadonlyPaths != nil {
		s.ReadonlyPaths = &hc.ReadonlyPaths
	}
	for k := range hc.Sysctls {
		s.Sysctls = append(s.Sysctls, k)
	}
	s.Runtime = hc.Runtime
}

func resources(res *container.Resources, s *Settings) {
	for _, d := range res.Devices {
		s.Devices = append(s.Devices, d.PathOnHost)
	}
	s.CgroupRules = append(s.CgroupRules, res.DeviceCgroupRules...)
}

func mounts(ms []mount.Mount, s *Settings) {
	for _, m := range ms {
		switch m.Type {
		case mount.TypeBind:
			s.HostPaths = append(s.HostPaths, m.Source)
		case mount.TypeVolume:
			if m.Source != "" {
				s.Volumes = append(s.Volumes, m.Source)
			}
		}
		if m.VolumeOptions != nil && m.VolumeOptions.DriverConfig != nil && len(m.VolumeOptions.DriverConfig.Options) > 0 {
			s.VolumeOptions = append(s.VolumeOptions, m.VolumeOptions.DriverConfig.Options)
		}
	}
}

func serviceSettings(spec *swarm.ServiceSpec) *Settings {
	s := &Settings{}
	// daemon/cluster/services.go populateNetworkID: TaskTemplate.Networks, else the spec's.
	networks := spec.TaskTemplate.Networks
	if len(networks) == 0 {
		networks = spec.Networks
	}
	for _, n := range networks {
		// An empty Target resolves to no network: "" is a prefix of every ID, so swarm's and
		// dockerd's lookups both find it ambiguous (bridge, host and none always exist).
		if n.Target == "" {
			continue
		}
		if n.Target == "host" {
			s.HostNetwork = true
		} else {
			s.Networks = append(s.Networks, n.Target)
		}
	}
	cs := spec.TaskTemplate.ContainerSpec
	if cs == nil {
		return s
	}
	s.Image, s.User = &cs.Image, &cs.User
	mounts(cs.Mounts, s)
	s.CapAdd = append(s.CapAdd, cs.CapabilityAdd...)
	for k := range cs.Sysctls {
		s.Sysctls = append(s.Sysctls, k)
	}
	if p := cs.Privileges; p != nil {
		if c := p.SELinuxContext; c != nil {
			// daemon/cluster/executor/container/container.go securityOpts: disable, then
			// user:, role:, type:, level: labels for the non-empty ones.
			if c.Disable {
				s.SecurityOpt = append(s.SecurityOpt, "label=disable")
			}
			for _, l := range []struct{ name, value string }{{"user", c.User}, {"role", c.Role}, {"type", c.Type}, {"level", c.Level}} {
				if l.value != "" {
					s.SecurityOpt = append(s.SecurityOpt, "label="+l.name+":"+l.value)
				}
			}
		}
	}
	return s
}

func finish(s *Settings) *Settings {
	for _, l := range [][]string{s.HostPaths, s.Volumes, s.HostNamespaces, s.Networks, s.Joined, s.VolumesFrom, s.CapAdd, s.Devices, s.CgroupRules, s.SecurityOpt, s.Sysctls} {
		sort.Strings(l)
	}
	return s
}

var _ = networktypes.NetworkingConfig{}

func emit(w *bufio.Writer, reading Reading) {
	line, err := json.Marshal(reading)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockerd-oracle:", err)
		os.Exit(2)
	}
	w.Write(line)
	w.WriteByte('\n')
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerd-oracle read < base64-requests | dockerd-oracle gen -n N -seed S CORPUS_DIR")
		os.Exit(2)
	}
	logrus.SetOutput(io.Discard) // dockerd's log lines about bad media types
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer w.Flush()
	switch os.Args[1] {
	case "read":
		in := bufio.NewScanner(os.Stdin)
		in.Buffer(make([]byte, 8<<20), 8<<20)
		for in.Scan() {
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(in.Text()))
			if err != nil {
				fmt.Fprintln(os.Stderr, "dockerd-oracle: a line is not base64:", err)
				os.Exit(2)
			}
			emit(w, read(raw))
		}
	case "gen":
		flags := flag.NewFlagSet("gen", flag.ExitOnError)
		n := flags.Int("n", 1000, "requests to generate")
		seed := flags.Int64("seed", 1, "random seed")
		flags.Parse(os.Args[2:])
		if flags.NArg() != 1 {
			fmt.Fprintln(os.Stderr, "dockerd-oracle gen: give the corpus directory")
			os.Exit(2)
		}
		seeds, err := loadCorpus(flags.Arg(0))
		if err != nil {
			fmt.Fprintln(os.Stderr, "dockerd-oracle gen:", err)
			os.Exit(2)
		}
		g := newGenerator(*seed, seeds)
		for _, s := range seeds {
			emit(w, read(s.raw()))
		}
		for i := 0; i < *n; i++ {
			emit(w, read(g.next()))
		}
	default:
		fmt.Fprintln(os.Stderr, "dockerd-oracle: unknown mode", os.Args[1])
		os.Exit(2)
	}
}
