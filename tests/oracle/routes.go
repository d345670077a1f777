// routes: the route table's completeness test (docs/reading-requests.md, "The route table").
//
// It reads every route dockerd registers from Debian's moby source (golang-github-docker-docker-dev,
// api/server/router/**) with Go's own parser: every call of router.NewGetRoute, NewPostRoute,
// NewPutRoute, NewDeleteRoute, NewHeadRoute, NewOptionsRoute and NewRoute, experimental,
// deprecated and version-gated ones included, in every router package. Then it fails on any
// route that is neither in imagegate's route table (imagegate-routes table, from
// policy/classify.cpp) nor listed in routes_carrying_nothing.txt with a reason; on an entry of
// either that dockerd does not register; and on any request, of many made from each route's
// pattern (API version prefixes, trailing slashes, every method, names holding '/', route
// words or a newline), that dockerd's router (gorilla/mux, registered as api/server/server.go
// registers it) sends to a route other than the one imagegate classifies it by.
//
//	routes -src /usr/share/gocode/src/github.com/docker/docker -imagegate BUILD/imagegate-routes \
//	    -listed tests/oracle/routes_carrying_nothing.txt
//
// Built in GOPATH mode against Debian's gorilla/mux (tests/oracle/routes.sh). Exit status 1 on
// any failure, with every failure printed.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
)

// The routers in the order dockerd 20.10 registers them (cmd/dockerd/daemon.go initRouter, which
// Debian does not ship: checkpoint first "or the DELETE gets masked", grpc and network last), then
// the debug router, which api/server/server.go's createMux mounts under /debug for any method.
var routerOrder = []string{"checkpoint", "container", "image", "system", "volume", "build",
	"session", "swarm", "plugin", "distribution", "grpc", "network", "debug"}

// Fewer routes than this means the source was not read as it should be.
const minimumRoutes = 100

// What api/server/server.go must still say for the registration mirrored below to hold.
var serverShapes = []string{
	`versionMatcher = "/v{version:[0-9.]+}"`,
	`m.Path(versionMatcher + r.Path()).Methods(r.Method()).Handler(f)`,
	`m.Path(r.Path()).Methods(r.Method()).Handler(f)`,
	`m.Path("/debug" + r.Path()).Handler(f)`,
}

const anyMethod = "ANY"

type route struct {
	method  string // GET, POST ... or ANY (the debug router)
	pattern string // as mux matches it, without the version prefix
	where   string // file:line
	router  string
}

func (r route) key() string { return r.method + " " + r.pattern }

var routeFunc = regexp.MustCompile(`^New(Get|Post|Put|Delete|Head|Options)?Route$`)

var failures []string

func fail(format string, args ...interface{}) {
	failures = append(failures, fmt.Sprintf(format, args...))
}

// readRoutes parses every non-test Go file under api/server/router and returns its routes in
// registration order.
func readRoutes(src string) ([]route, error) {
	base := filepath.Join(src, "api", "server", "router")
	byRouter := map[string][]route{}
	dirs := []string{base}
	entries, err := os.ReadDir(base)
	if err != nil {
		return nil, fmt.Errorf("cannot read dockerd's routers: %v", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(base, e.Name()))
		}
	}
	for _, dir := range dirs {
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, 0)
		if err != nil {
			return nil, fmt.Errorf("cannot parse %s: %v", dir, err)
		}
		for _, pkg := range pkgs {
			names := make([]string, 0, len(pkg.Files))
			for name := range pkg.Files {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				found, err := routesOfFile(fset, pkg.Files[name], dir == base, base)
				if err != nil {
					return nil, err
				}
				for _, r := range found {
					r.router = pkg.Name
					byRouter[pkg.Name] = append(byRouter[pkg.Name], r)
				}
			}
		}
	}
	var out []route
	known := map[string]bool{}
	for _, name := range routerOrder {
		known[name] = true
		if len(byRouter[name]) == 0 {
			fail("router %q registers no route: the source is not read as this test expects", name)
		}
		for _, r := range byRouter[name] {
			if name == "debug" {
				r.method, r.pattern = anyMethod, "/debug"+r.pattern
			}
			out = append(out, r)
		}
	}
	for name, rs := range byRouter {
		if !known[name] && name != "router" {
			fail("router package %q (%s) is not in routerOrder: add it where cmd/dockerd registers it", name, rs[0].where)
		}
	}
	if len(byRouter["router"]) > 0 {
		fail("package router itself registers a route (%s)", byRouter["router"][0].where)
	}
	return out, nil
}

// routesOfFile finds every call of a route constructor in one file. Every mention of a
// constructor must be such a call (or, in package router, its own definition), so that a
// constructor passed around as a value cannot hide a route.
func routesOfFile(fset *token.FileSet, file *ast.File, isRouterPkg bool, base string) ([]route, error) {
	var out []route
	calls := map[*ast.Ident]bool{}
	defs := map[*ast.Ident]bool{}
	var firstErr error
	where := func(n ast.Node) string {
		p := fset.Position(n.Pos())
		rel, _ := filepath.Rel(base, p.Filename)
		return fmt.Sprintf("%s:%d", rel, p.Line)
	}
	var stack []ast.Node
	ast.Inspect(file, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		stack = append(stack, n)
		if fd, ok := n.(*ast.FuncDecl); ok && routeFunc.MatchString(fd.Name.Name) {
			defs[fd.Name] = true
		}
		if lit, ok := n.(*ast.CompositeLit); ok {
			if id, ok := lit.Type.(*ast.Ident); ok && id.Name == "localRoute" && !strings.HasSuffix(fset.Position(n.Pos()).Filename, "/local.go") {
				firstErr = fmt.Errorf("%s: a localRoute literal outside local.go", where(n))
			}
		}
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		var fn *ast.Ident
		switch f := call.Fun.(type) {
		case *ast.SelectorExpr:
			fn = f.Sel
		case *ast.Ident:
			fn = f
		}
		if fn == nil || !routeFunc.MatchString(fn.Name) {
			return true
		}
		calls[fn] = true
		// In package router, the constructors' own bodies call NewRoute with a variable.
		if isRouterPkg {
			for _, outer := range stack {
				if fd, ok := outer.(*ast.FuncDecl); ok && routeFunc.MatchString(fd.Name.Name) {
					return true
				}
			}
		}
		args := call.Args
		method := strings.ToUpper(strings.TrimSuffix(strings.TrimPrefix(fn.Name, "New"), "Route"))
		if method == "" { // NewRoute(method, path, handler, ...)
			if len(args) < 2 {
				firstErr = fmt.Errorf("%s: NewRoute with %d arguments", where(call), len(args))
				return true
			}
			switch m := args[0].(type) {
			case *ast.SelectorExpr:
				if x, ok := m.X.(*ast.Ident); ok && x.Name == "http" && strings.HasPrefix(m.Sel.Name, "Method") {
					method = strings.ToUpper(strings.TrimPrefix(m.Sel.Name, "Method"))
				}
			case *ast.BasicLit:
				method, _ = strconv.Unquote(m.Value)
			}
			if method == "" {
				firstErr = fmt.Errorf("%s: NewRoute's method is not http.MethodX or a string literal", where(call))
				return true
			}
			args = args[1:]
		}
		if len(args) < 1 {
			firstErr = fmt.Errorf("%s: %s without a path", where(call), fn.Name)
			return true
		}
		lit, ok := args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			firstErr = fmt.Errorf("%s: %s's path is not a string literal: this test cannot read it", where(call), fn.Name)
			return true
		}
		path, err := strconv.Unquote(lit.Value)
		if err != nil {
			firstErr = fmt.Errorf("%s: %v", where(call), err)
			return true
		}
		out = append(out, route{method: method, pattern: path, where: where(call)})
		return true
	})
	if firstErr != nil {
		return nil, firstErr
	}
	ast.Inspect(file, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && routeFunc.MatchString(id.Name) && !calls[id] && !defs[id] {
			firstErr = fmt.Errorf("%s: %s is used other than by a call this test reads", where(id), id.Name)
		}
		return true
	})
	return out, firstErr
}

// readListed reads METHOD PATTERN REASON lines ('#' starts a comment line).
func readListed(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			fail("%s:%d: not \"METHOD PATTERN REASON\" with a reason of some words: %q", path, i+1, line)
			continue
		}
		key := f[0] + " " + f[1]
		if _, dup := out[key]; dup {
			fail("%s:%d: %s is listed twice", path, i+1, key)
		}
		out[key] = strings.Join(f[2:], " ")
	}
	return out, nil
}

func imagegateTable(helper string) ([]string, error) {
	out, err := exec.Command(helper, "table").Output()
	if err != nil {
		return nil, fmt.Errorf("%s table: %v", helper, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n"), nil
}

// Values a variable takes in the samples, by its regexp: names holding '/', a route word, an
// API-version look-alike, a newline (Go's '.' does not match it, '[^/]' does), empty.
var sampleValues = map[string][]string{
	"":   {"x", "json", "copy", "a.b", "a%0Ab", "v1.23", "a%2Fb"},
	".*": {"", "x", "a/b", "x/json", "copy", "x/archive", "a%0Ab", "v1.23/containers/x", "x/checkpoints"},
	".+": {"x", "a/b", "x/json", "a%0Ab"},
}

var varPattern = regexp.MustCompile(`\{([^}:]+)(?::([^}]*))?\}`)

// instances writes the pattern with each combination of sample values.
func instances(pattern string) ([]string, error) {
	out := []string{""}
	last := 0
	for _, m := range varPattern.FindAllStringSubmatchIndex(pattern, -1) {
		literal := pattern[last:m[0]]
		re := ""
		if m[4] >= 0 {
			re = pattern[m[4]:m[5]]
		}
		values, ok := sampleValues[re]
		if !ok {
			return nil, fmt.Errorf("no sample values for a variable with regexp %q in %s: add some", re, pattern)
		}
		var next []string
		for _, prefix := range out {
			for _, v := range values {
				next = append(next, prefix+literal+v)
			}
		}
		out = next
		last = m[1]
	}
	for i := range out {
		out[i] += pattern[last:]
	}
	return out, nil
}

// cleanPath is mux's: a request whose path it changes is redirected, never routed.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := filepath.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

type sample struct{ method, uri string }

func main() {
	src := flag.String("src", "/usr/share/gocode/src/github.com/docker/docker", "moby's source")
	helper := flag.String("imagegate", "", "imagegate-routes")
	listedFile := flag.String("listed", "", "routes_carrying_nothing.txt")
	flag.Parse()
	if *helper == "" || *listedFile == "" {
		fmt.Fprintln(os.Stderr, "usage: routes -src MOBY -imagegate BUILD/imagegate-routes -listed FILE")
		os.Exit(2)
	}
	server, err := os.ReadFile(filepath.Join(*src, "api", "server", "server.go"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "routes: cannot read dockerd's api/server/server.go: %v\n", err)
		os.Exit(1)
	}
	for _, shape := range serverShapes {
		if !bytes.Contains(server, []byte(shape)) {
			fail("api/server/server.go no longer says %s: the registration this test mirrors changed", shape)
		}
	}
	routes, err := readRoutes(*src)
	if err != nil {
		fmt.Fprintf(os.Stderr, "routes: %v\n", err)
		os.Exit(1)
	}
	if len(routes) < minimumRoutes {
		fail("only %d routes read from %s (at least %d expected)", len(routes), *src, minimumRoutes)
		report()
	}
	listed, err := readListed(*listedFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "routes: %v\n", err)
		os.Exit(1)
	}
	tableLines, err := imagegateTable(*helper)
	if err != nil {
		fmt.Fprintf(os.Stderr, "routes: %v\n", err)
		os.Exit(1)
	}
	table := map[string]bool{}
	for _, l := range tableLines {
		table[l] = true
	}

	// Each route dockerd registers: classified or listed, not both.
	dockerd := map[string]route{}
	classified, nothing := 0, 0
	for _, r := range routes {
		if prev, dup := dockerd[r.key()]; dup {
			fail("%s is registered twice (%s, %s)", r.key(), prev.where, r.where)
		}
		dockerd[r.key()] = r
		inTable, isListed := table[r.key()], listed[r.key()] != ""
		switch {
		case inTable && isListed:
			fail("%s (%s) is both in imagegate's route table and listed as carrying nothing", r.key(), r.where)
		case inTable:
			classified++
		case isListed:
			nothing++
		default:
			fail("NOT CLASSIFIED: %s (%s): add it to kRoutes in policy/classify.cpp, or, if it carries no image and no host access, to %s with a reason",
				r.key(), r.where, filepath.Base(*listedFile))
		}
	}
	for key := range table {
		if _, ok := dockerd[key]; !ok {
			fail("imagegate's route table has %s, which dockerd does not register", key)
		}
	}
	for key := range listed {
		if _, ok := dockerd[key]; !ok {
			fail("%s lists %s, which dockerd does not register", filepath.Base(*listedFile), key)
		}
	}

	// dockerd's router, as createMux builds it.
	m := mux.NewRouter()
	index := map[*mux.Route]int{}
	for i, r := range routes {
		h := http.NotFoundHandler()
		if r.method == anyMethod {
			index[m.Path(r.pattern).Handler(h)] = i
			continue
		}
		index[m.Path("/v{version:[0-9.]+}"+r.pattern).Methods(r.method).Handler(h)] = i
		index[m.Path(r.pattern).Methods(r.method).Handler(h)] = i
	}

	// Samples: every route's pattern, instantiated, under several version prefixes, with and
	// without a trailing slash, with every method (and lower-case ones, which mux never routes).
	methods := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get", "post"}
	prefixes := []string{"", "/v1.12", "/v1.23", "/v1.41", "/v1.99", "/v.", "/v1"}
	seen := map[sample]bool{}
	var samples []sample
	for _, r := range routes {
		paths, err := instances(r.pattern)
		if err != nil {
			fail("%v", err)
			continue
		}
		for _, p := range paths {
			for _, prefix := range prefixes {
				for _, slash := range []string{"", "/"} {
					for _, method := range methods {
						s := sample{method, prefix + p + slash}
						if !seen[s] {
							seen[s] = true
							samples = append(samples, s)
						}
					}
				}
			}
		}
	}

	// imagegate's reading of each sample.
	var input bytes.Buffer
	for _, s := range samples {
		fmt.Fprintf(&input, "%s %s\n", s.method, s.uri)
	}
	cmd := exec.Command(*helper, "match")
	cmd.Stdin = &input
	cmd.Stderr = os.Stderr
	output, err := cmd.Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "routes: %s match: %v\n", *helper, err)
		os.Exit(1)
	}
	answers := strings.Split(strings.TrimSuffix(string(output), "\n"), "\n")
	if len(answers) != len(samples) {
		fmt.Fprintf(os.Stderr, "routes: %d answers for %d samples\n", len(answers), len(samples))
		os.Exit(1)
	}

	hit := make([]int, len(routes))
	routed, mismatches := 0, 0
	for i, s := range samples {
		u, err := url.ParseRequestURI(s.uri)
		if err != nil {
			fail("sample %s %s: %v", s.method, s.uri, err)
			continue
		}
		if cleanPath(u.Path) != u.Path {
			continue // mux redirects it: no plugin is asked
		}
		req := &http.Request{Method: s.method, URL: u, RequestURI: s.uri, Header: http.Header{}}
		var match mux.RouteMatch
		if !m.Match(req, &match) || match.MatchErr != nil {
			continue // dockerd answers 404/405 without asking any plugin
		}
		ri, ok := index[match.Route]
		if !ok {
			fail("sample %s %s: mux matched a route this test did not register", s.method, s.uri)
			continue
		}
		routed++
		hit[ri]++
		r := routes[ri]
		want := "-"
		if table[r.key()] {
			want = r.key()
		} else if listed[r.key()] == "" {
			continue // reported above as not classified
		}
		if answers[i] != want {
			mismatches++
			if mismatches <= 40 {
				fail("%s %s: dockerd routes it to %s (%s), imagegate reads it as %q", s.method, s.uri, r.key(), r.where, answers[i])
			}
		}
	}
	if mismatches > 40 {
		fail("... %d routing disagreements in all", mismatches)
	}
	for i, r := range routes {
		if hit[i] == 0 {
			fail("no sample reached %s (%s): the samples do not exercise it", r.key(), r.where)
		}
	}

	fmt.Printf("routes: %d routes dockerd registers (%d routers, read from %s): %d in imagegate's route table, %d listed as carrying nothing; %d samples, %d routed by dockerd, %d read differently\n",
		len(routes), len(routerOrder), *src, classified, nothing, len(samples), routed, mismatches)
	report()
}

// report prints every failure and exits 1 if there is any.
func report() {
	if len(failures) == 0 {
		return
	}
	w := bufio.NewWriter(os.Stdout)
	for _, f := range failures {
		fmt.Fprintln(w, "FAIL:", f)
	}
	w.Flush()
	os.Exit(1)
}
