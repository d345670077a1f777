// The mutating generator of dockerd-oracle gen: requests grown from the seed corpus
// (tests/oracle/corpus/*.json) by the spellings that make a reader disagree with dockerd:
// Content-Type with every Unicode space Go trims and every rune Go lower-cases to ASCII,
// parameters good and bad, repeated headers; JSON keys in other cases and with the runes Go's
// decoder folds (ſ, K), repeated keys, key order, padding across the 8-key mask threshold,
// long lists; API versions down to 1.12; Content-Length, chunked, bodies around 1 MiB; query
// parameters repeated and percent-encoded. Dangerous settings are injected at random places.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type seedRequest struct {
	Method  string          `json:"method"`
	Path    string          `json:"path"` // without the version prefix
	Query   string          `json:"query"`
	Headers [][2]string     `json:"headers"`
	Body    json.RawMessage `json:"body"` // a JSON body
	Raw     string          `json:"rawBody"`
	Version string          `json:"version"` // "1.23"; 1.41 when absent
}

func (s seedRequest) raw() []byte {
	var body []byte
	if len(s.Body) > 0 {
		body = s.Body
	} else {
		body = []byte(s.Raw)
	}
	version := "1.41"
	if s.Version != "" {
		version = s.Version
	}
	return build(s.Method, "/v"+version+s.Path, s.Query, s.Headers, body, false)
}

func build(method, path, query string, headers [][2]string, body []byte, chunked bool) []byte {
	var b bytes.Buffer
	target := path
	if query != "" {
		target += "?" + query
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: docker\r\n", method, target)
	for _, h := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	if chunked {
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		for len(body) > 0 {
			n := len(body)
			if n > 65536 {
				n = 65536
			}
			fmt.Fprintf(&b, "%x\r\n", n)
			b.Write(body[:n])
			b.WriteString("\r\n")
			body = body[n:]
		}
		b.WriteString("0\r\n\r\n")
	} else {
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
		b.Write(body)
	}
	return b.Bytes()
}

func loadCorpus(dir string) ([]seedRequest, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no seed requests (*.json) in %s", dir)
	}
	sort.Strings(files)
	var seeds []seedRequest
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var s seedRequest
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("%s: %v", f, err)
		}
		seeds = append(seeds, s)
	}
	return seeds, nil
}

// An ordered JSON tree: Go maps would lose the key order and the repeated keys that matter.
type node struct {
	kind  byte // 'o' object, 'a' array, 'v' any other value (raw JSON)
	keys  []string
	vals  []*node
	items []*node
	raw   string
}

func parseNode(d *json.Decoder) (*node, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch v := t.(type) {
	case json.Delim:
		if v == '{' {
			n := &node{kind: 'o'}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return nil, err
				}
				child, err := parseNode(d)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, k.(string))
				n.vals = append(n.vals, child)
			}
			_, err = d.Token()
			return n, err
		}
		n := &node{kind: 'a'}
		for d.More() {
			child, err := parseNode(d)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, child)
		}
		_, err = d.Token()
		return n, err
	default:
		raw, _ := json.Marshal(v)
		return &node{kind: 'v', raw: string(raw)}, nil
	}
}

func mustNode(text string) *node {
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	n, err := parseNode(d)
	if err != nil {
		panic(text + ": " + err.Error())
	}
	return n
}

func (n *node) write(b *bytes.Buffer) {
	switch n.kind {
	case 'o':
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			n.vals[i].write(b)
		}
		b.WriteByte('}')
	case 'a':
		b.WriteByte('[')
		for i, it := range n.items {
			if i > 0 {
				b.WriteByte(',')
			}
			it.write(b)
		}
		b.WriteByte(']')
	default:
		b.WriteString(n.raw)
	}
}

func (n *node) clone() *node {
	c := &node{kind: n.kind, raw: n.raw, keys: append([]string(nil), n.keys...)}
	for _, v := range n.vals {
		c.vals = append(c.vals, v.clone())
	}
	for _, v := range n.items {
		c.items = append(c.items, v.clone())
	}
	return c
}

// Every object ('o') or array ('a') in the tree, to pick one at random.
func (n *node) collect(kind byte, out *[]*node) {
	if n.kind == kind {
		*out = append(*out, n)
	}
	for _, children := range [][]*node{n.vals, n.items} {
		for _, v := range children {
			v.collect(kind, out)
		}
	}
}

type generator struct {
	rng   *rand.Rand
	seeds []seedRequest
}

func newGenerator(seed int64, seeds []seedRequest) *generator {
	return &generator{rng: rand.New(rand.NewSource(seed)), seeds: seeds}
}

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }
func (g *generator) pick(list []string) string { return list[g.rng.Intn(len(list))] }

// unicode.IsSpace, all of it, and a few runes that are not spaces to Go.
var spaces = []string{" ", "\t", "\v", "\f", "\u0085", "\u00a0", "\u1680", "\u2000", "\u2001", "\u2002", "\u2003",
	"\u2004", "\u2005", "\u2006", "\u2007", "\u2008", "\u2009", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f",
	"\u3000", "\u180e", "\u200b", "\ufeff"}

// A key or media type respelled: ASCII case, and the runes Go folds or lower-cases to ASCII.
func (g *generator) respell(s string, forJSON bool) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case (r == 's' || r == 'S') && forJSON && g.chance(0.2):
			b.WriteString("\u017f") // ſ: encoding/json folds it to s
		case (r == 'k' || r == 'K') && g.chance(0.3):
			b.WriteString("\u212a") // Kelvin sign: folds (json) and lowers (mime) to k
		case (r == 'i' || r == 'I') && !forJSON && g.chance(0.2):
			b.WriteString("\u0130") // İ: strings.ToLower makes it i; json does not fold it
		case r >= 'a' && r <= 'z' && g.chance(0.3):
			b.WriteRune(r - 32)
		case r >= 'A' && r <= 'Z' && g.chance(0.3):
			b.WriteRune(r + 32)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

var mediaTypes = []string{"application/json", "application/json", "application/json", "application/x-www-form-urlencoded",
	"multipart/form-data; boundary=XyZ", "text/plain", "application/x-tar", "application/jsonx", "application/json/x",
	"application", ""}
var mediaParams = []string{"", "", "; charset=utf-8", "; charset=\"utf-8\"", ";", "; =x", "; a=1; a=2", "; a*=1; a*=2",
	"; a", "; a=\"unterminated", "; a=b c", ";;", "; charset=utf-8;"}

func (g *generator) contentType() string {
	t := g.pick(mediaTypes)
	if g.chance(0.5) {
		t = g.respell(t, false)
	}
	if g.chance(0.4) {
		t = g.pick(spaces) + t
	}
	if g.chance(0.4) {
		t = t + g.pick(spaces)
	}
	return t + g.pick(mediaParams)
}

// Settings that hardening must see wherever they are written.
var dangers = []struct{ where, key, value string }{
	{"hc", "Binds", `["/:/host"]`},
	{"hc", "Binds", `["/etc:/x:ro","data:/d"]`},
	{"hc", "Privileged", `true`},
	{"hc", "PidMode", `"host"`},
	{"hc", "IpcMode", `"host"`},
	{"hc", "UTSMode", `"host"`},
	{"hc", "UsernsMode", `"host"`},
	{"hc", "NetworkMode", `"host"`},
	{"hc", "NetworkMode", `"4f2a9c"`},
	{"hc", "NetworkMode", `"container:agent"`},
	{"hc", "PidMode", `"container:agent"`},
	{"hc", "VolumesFrom", `["agent:ro"]`},
	{"hc", "CapAdd", `["SYS_ADMIN"]`},
	{"hc", "Devices", `[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]`},
	{"hc", "DeviceCgroupRules", `["b 8:* rwm"]`},
	{"hc", "SecurityOpt", `["seccomp=unconfined"]`},
	{"hc", "MaskedPaths", `[]`},
	{"hc", "Sysctls", `{"kernel.core_pattern":"|/x"}`},
	{"hc", "Mounts", `[{"Type":"bind","Source":"/","Target":"/host"}]`},
	{"hc", "Mounts", `[{"Type":"volume","Source":"v1","Target":"/a"},{"Type":"volume","Source":"v2","Target":"/b","VolumeOptions":{"NoCopy":false,"Labels":{},"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/"}}}}]`},
	{"top", "User", `"root"`},
	{"top", "Image", `"randomdev/tool"`},
	{"spec", "Mounts", `[{"Type":"volume","Source":"v1","Target":"/a","VolumeOptions":{"NoCopy":false,"Labels":{},"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6}},{"Type":"volume","Source":"v2","Target":"/b","VolumeOptions":{"NoCopy":false,"Labels":{},"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/"}}}}]`},
	{"spec", "CapabilityAdd", `["CAP_SYS_ADMIN"]`},
	{"spec", "User", `"0"`},
	{"spec", "Image", `"randomdev/tool"`},
	{"task", "Networks", `[{"Target":"host"}]`},
	{"task", "Networks", `[{"Target":"4f2a9c"}]`},
	{"top", "Networks", `[{"Target":"host"}]`},
	{"top", "Privileged", `true`},
	{"top", "DriverOpts", `{"type":"none","o":"bind","device":"/etc"}`},
	{"hc", "CapAdd", `"SYS_ADMIN"`}, // a string where a list is expected
	{"hc", "IpcMode", `"container:agent"`},
	{"hc", "CgroupnsMode", `"host"`},
	{"hc", "Binds", `[null,"/:/host"]`},
	{"hc", "Devices", `[null,{"PathOnHost":"/dev/mem"}]`},
	{"top", "NetworkingConfig", `{"EndpointsConfig":{"host":{},"4f2a9c":{}}}`},
	{"spec", "Privileges", `{"SELinuxContext":{"Type":"spc_t"}}`},
}

func (n *node) field(folded string) *node {
	for i := len(n.keys) - 1; i >= 0; i-- {
		if strings.EqualFold(n.keys[i], folded) {
			return n.vals[i]
		}
	}
	return nil
}

func (n *node) set(key string, v *node) {
	n.keys = append(n.keys, key)
	n.vals = append(n.vals, v)
}

func (g *generator) mutateJSON(root *node) {
	// Inject dangers where they belong (and sometimes somewhere else).
	for i := g.rng.Intn(3); i >= 0; i-- {
		d := dangers[g.rng.Intn(len(dangers))]
		target := root
		switch d.where {
		case "hc":
			if hc := root.field("HostConfig"); hc != nil && hc.kind == 'o' && g.chance(0.7) {
				target = hc
			}
		case "spec", "task":
			if task := root.field("TaskTemplate"); task != nil && task.kind == 'o' {
				target = task
				if spec := task.field("ContainerSpec"); d.where == "spec" && spec != nil && spec.kind == 'o' {
					target = spec
				}
			}
		}
		target.set(g.respell(d.key, true), mustNode(d.value))
	}
	var objects []*node
	root.collect('o', &objects)
	for i := g.rng.Intn(4); i > 0; i-- {
		o := objects[g.rng.Intn(len(objects))]
		switch g.rng.Intn(5) {
		case 0: // respell a key
			if len(o.keys) > 0 {
				k := g.rng.Intn(len(o.keys))
				o.keys[k] = g.respell(o.keys[k], true)
			}
		case 1: // repeat a key, in another spelling
			if len(o.keys) > 0 {
				k := g.rng.Intn(len(o.keys))
				o.set(g.respell(o.keys[k], true), o.vals[k].clone())
			}
		case 2: // padding keys: across go_key_mask's 8-key threshold
			for p := g.rng.Intn(10); p > 0; p-- {
				o.set(fmt.Sprintf("%c%d", 'a'+rune(g.rng.Intn(26)), p), mustNode(`0`))
			}
		case 3: // shuffle
			g.rng.Shuffle(len(o.keys), func(a, b int) {
				o.keys[a], o.keys[b] = o.keys[b], o.keys[a]
				o.vals[a], o.vals[b] = o.vals[b], o.vals[a]
			})
		case 4: // null a value
			if len(o.keys) > 0 {
				o.vals[g.rng.Intn(len(o.keys))] = mustNode(`null`)
			}
		}
	}
	var arrays []*node
	root.collect('a', &arrays)
	if len(arrays) > 0 && g.chance(0.5) {
		a := arrays[g.rng.Intn(len(arrays))]
		if len(a.items) > 0 { // longer lists, the dangerous item anywhere in them
			for r := g.rng.Intn(10); r > 0; r-- {
				a.items = append(a.items, a.items[g.rng.Intn(len(a.items))].clone())
			}
			g.rng.Shuffle(len(a.items), func(x, y int) { a.items[x], a.items[y] = a.items[y], a.items[x] })
		}
	}
}

// Versions as dockerd's router and version middleware take them: "1.041" is 1.41 and "1.23.9"
// is below 1.24 to versions.LessThan; "1" and "01.23" compare by number too.
var versionsList = []string{"", "/v1.12", "/v1.19", "/v1.23", "/v1.24", "/v1.25", "/v1.40", "/v1.41", "/v1.41", "/v1.42",
	"/v1.11", "/v1.041", "/v1.23.9", "/v01.23", "/v1", "/v1.", "/v.1"}
var formBodies = []string{"fromImage=randomdev%2Ftool&tag=latest", "fromSrc=-&repo=acme%2Fimp", "remote=randomdev%2Fplugin",
	"networkmode=host&t=acme%2Fx", "t=acme%2Fx", "name=x", ""}

func (g *generator) next() []byte {
	s := g.seeds[g.rng.Intn(len(g.seeds))]
	var body []byte
	if len(s.Body) > 0 {
		d := json.NewDecoder(bytes.NewReader(s.Body))
		d.UseNumber()
		root, err := parseNode(d)
		if err == nil && root.kind == 'o' {
			if g.chance(0.9) {
				g.mutateJSON(root)
			}
			if g.chance(0.03) { // around dockerd's 1 MiB limit
				size := 1<<20 - 200 + g.rng.Intn(400)
				root.set("Padding", &node{kind: 'v', raw: `"` + strings.Repeat("x", size) + `"`})
			}
			var b bytes.Buffer
			root.write(&b)
			body = b.Bytes()
			for e := g.rng.Intn(3); e > 0 && g.chance(0.3); e-- {
				// A letter after a quote written as a \u escape: "\u0050rivileged" is Privileged
				// to both decoders, in keys and in values alike.
				var starts []int
				for i := 0; i+1 < len(body); i++ {
					if body[i] == '"' && body[i+1] >= 'A' && body[i+1] <= 'Z' {
						starts = append(starts, i+1)
					}
				}
				if len(starts) > 0 {
					i := starts[g.rng.Intn(len(starts))]
					body = append(append(append([]byte{}, body[:i]...), []byte(fmt.Sprintf("\\u%04X", body[i]))...), body[i+1:]...)
				}
			}
		}
	} else {
		body = []byte(s.Raw)
	}
	var headers [][2]string
	ct := ""
	for _, h := range s.Headers {
		if strings.EqualFold(h[0], "Content-Type") {
			ct = h[1]
			continue
		}
		headers = append(headers, h)
	}
	if g.chance(0.6) {
		ct = g.contentType()
	}
	if ct != "" || g.chance(0.5) {
		headers = append(headers, [2]string{"Content-Type", ct})
	}
	if g.chance(0.15) { // a second Content-Type: dockerd reads the first, the plugin is shown the last
		headers = append(headers, [2]string{g.respell("Content-Type", false), g.contentType()})
	}
	if strings.Contains(strings.ToLower(ct), "form") && g.chance(0.7) {
		body = []byte(g.pick(formBodies))
	}
	if g.chance(0.1) {
		body = nil
	}
	query := s.Query
	if query != "" && g.chance(0.3) {
		parts := strings.Split(query, "&")
		p := parts[g.rng.Intn(len(parts))]
		switch g.rng.Intn(4) {
		case 0:
			query += "&" + p
		case 1:
			query += "&" + strings.SplitN(p, "=", 2)[0] + "=randomdev%2Ftool"
		case 2:
			query = strings.Replace(query, "=", "%3D", 1)
		case 3:
			query = strings.Replace(query, "e", "%65", 1)
		}
	}
	if query != "" && g.chance(0.1) { // the query parser's corners: '+', %2B, empty pairs, a key alone
		query = strings.Replace(query, "%2F", g.pick([]string{"/", "%2f", "+", "%2B", "%252F"}), 1) + g.pick([]string{"", "&", "&&", "&=x", "&tag", "&tag="})
	}
	path := s.Path
	if g.chance(0.1) { // a percent-encoded letter: net/url decodes the path before the router sees it
		i := 1 + g.rng.Intn(len(path)-1)
		if c := path[i]; c >= 'a' && c <= 'z' {
			path = path[:i] + fmt.Sprintf("%%%02X", c) + path[i+1:]
		}
	}
	method := s.Method
	if g.chance(0.03) {
		method = strings.ToLower(method) // gorilla/mux matches methods exactly
	}
	version := g.pick(versionsList)
	return build(method, version+path, query, headers, body, g.chance(0.15))
}
