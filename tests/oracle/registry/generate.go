// The mutating generator of registry-oracle gen: registry requests grown from the seed requests
// below (what dockerd sends: manifests, blobs, uploads with mount/from, tags, the catalog, a
// token path) by the spellings that make a reader disagree with the registry: escapes of every
// kind in the path and the query (%XX of ordinary bytes in either case, %2F, %2576, an escaped
// "/v2/", bad escapes), ';' separators, '+', repeated and escaped keys (fr%6Fm), upper case,
// dot segments, double and trailing slashes, names that hold "manifests", "blobs", "uploads" or
// "tags/list", form bodies (urlencoded and multipart) under odd Content-Type spellings and
// several Content-Type headers, every method, HTTP/1.0, chunked bodies.
package main

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
)

type seedRequest struct {
	method, path, query string
	headers             [][2]string
	body                string
}

func (s seedRequest) raw() []byte {
	return build(s.method, s.path, s.query, "HTTP/1.1", s.headers, []byte(s.body), false)
}

func build(method, path, query, proto string, headers [][2]string, body []byte, chunked bool) []byte {
	var b bytes.Buffer
	target := path
	if query != "" {
		target += "?" + query
	}
	fmt.Fprintf(&b, "%s %s %s\r\nHost: registry.example\r\n", method, target, proto)
	for _, h := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	switch {
	case chunked:
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		if len(body) > 0 {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(body), body)
		}
		b.WriteString("0\r\n\r\n")
	case len(body) > 0 || (method != "GET" && method != "HEAD"):
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
		b.Write(body)
	default:
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

const (
	digest1 = "sha256:9b2a2c3a2b7f0a6e4b1d0c7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a"
	digest2 = "sha256:1f0e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
	uuid1   = "0d0f1b7e-2c4a-4a61-9a5e-3f1c2b4d5e6f"
)

var manifestType = [2]string{"Content-Type", "application/vnd.docker.distribution.manifest.v2+json"}

var seeds = []seedRequest{
	{method: "GET", path: "/v2/"},
	{method: "GET", path: "/v2/library/alpine/manifests/3.19", headers: [][2]string{{"Accept", "application/vnd.docker.distribution.manifest.v2+json"}}},
	{method: "HEAD", path: "/v2/library/alpine/manifests/" + digest1},
	{method: "GET", path: "/v2/library/alpine/manifests/" + digest1},
	{method: "GET", path: "/v2/library/alpine/blobs/" + digest2},
	{method: "HEAD", path: "/v2/library/alpine/blobs/" + digest2},
	{method: "GET", path: "/v2/library/alpine/tags/list", query: "n=10&last=3.18"},
	{method: "GET", path: "/v2/_catalog", query: "n=100"},
	{method: "POST", path: "/v2/team/app/blobs/uploads/", query: "mount=" + digest2 + "&from=library/alpine"},
	{method: "POST", path: "/v2/team/app/blobs/uploads/"},
	{method: "POST", path: "/v2/team/app/blobs/uploads/", query: "from=library/alpine&mount=" + digest2,
		headers: [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}}, body: "from=evil/tool&mount=" + digest2},
	{method: "PATCH", path: "/v2/team/app/blobs/uploads/" + uuid1, query: "_state=abc",
		headers: [][2]string{{"Content-Type", "application/octet-stream"}}, body: "layer bytes"},
	{method: "PUT", path: "/v2/team/app/blobs/uploads/" + uuid1, query: "_state=abc&digest=" + digest2},
	{method: "GET", path: "/v2/team/app/blobs/uploads/" + uuid1},
	{method: "PUT", path: "/v2/team/app/manifests/1.0", headers: [][2]string{manifestType},
		body: `{"schemaVersion":2,"config":{"digest":"` + digest2 + `"}}`},
	{method: "DELETE", path: "/v2/team/app/manifests/" + digest1},
	{method: "GET", path: "/token", query: "scope=repository:library/alpine:pull&service=registry.example"},
}

// Names a repository might be given; several hold a route's own words.
var names = []string{
	"library/alpine", "evil/tool", "a", "a/b/c/d", "manifests", "blobs", "uploads", "tags", "list",
	"v2", "_catalog", "a/manifests/b", "x/blobs/uploads", "x/tags/list", "library/alpine/manifests/latest",
	"Library/Alpine", "a.b/c-d_e", "a__b", "a..b", "-a", "a/./b", "a/../b", "a//b", "a/v2/b",
	"evil/tool/blobs/" + digest1, "a/blobs",
}

var fromValues = []string{
	"library/alpine", "evil/tool", "evil", "a/b/c", "Evil/Tool", "../evil", "evil/tool/manifests/x",
	"evil%2Ftool", "", " evil/tool", "evil/tool ", "evil+tool", "evil%20tool", "library/alpine;evil",
}

var fromKeys = []string{
	"from", "from", "from", "fr%6Fm", "%66%72%6f%6d", "From", "FROM", "from%20", "from+", "fro%6D", "%66rom",
}

var contentTypes = []string{
	"application/x-www-form-urlencoded", "Application/X-WWW-Form-URLEncoded",
	"application/x-www-form-urlencoded; charset=utf-8", " application/x-www-form-urlencoded ",
	"application/x-www-form-urlencoded\t", "\u00a0application/x-www-form-urlencoded",
	"application/x-www-form-urlencoded\u00a0", "\u0085application/x-www-form-urlencoded",
	"application/x-www-form-urlencoded\u2028", "appl\u0130cation/x-www-form-urlencoded",
	"APPL\u0130CATION/X-WWW-FORM-URLENCODED", "application/x-www-form-urlencoded;",
	"application/x-www-form-urlencoded ;x=y", "application/x-www-form-urlencoded,text/plain",
	"application/x-www-form-urlencoded\v", "\fapplication/x-www-form-urlencoded",
	"application/x-www-form-urlencoded; =x", "application/x-www-form-urlencoded; a=1; a=2",
	"multipart/form-data; boundary=XyZ", "Multipart/Form-Data; boundary=XyZ",
	"multipart/form-data;boundary=\"XyZ\"", "multipart/mixed; boundary=XyZ",
	"multipart/form-data", "mult\u0130part/form-data; boundary=XyZ",
	"text/plain", "application/json", "application/octet-stream", "", "application/x-www-form-urlencodedx",
}

var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "GET", "POST", "post", "OPTIONS", "Get"}

type generator struct {
	r *rand.Rand
}

func newGenerator(seed int64) *generator {
	return &generator{r: rand.New(rand.NewSource(seed))}
}

func (g *generator) pick(list []string) string { return list[g.r.Intn(len(list))] }

// A random byte of S as %XX, the hex digits in either case.
func (g *generator) escapeOne(s string, from int) string {
	if len(s) <= from {
		return s
	}
	i := from + g.r.Intn(len(s)-from)
	e := fmt.Sprintf("%%%02X", s[i])
	if g.r.Intn(2) == 0 {
		e = strings.ToLower(e)
	}
	return s[:i] + e + s[i+1:]
}

func (g *generator) insertAt(s, what string, from int) string {
	if len(s) < from {
		return s + what
	}
	i := from + g.r.Intn(len(s)-from+1)
	return s[:i] + what + s[i:]
}

// Replaces the name between "/v2/" and the first route word with NAME.
func rename(path, name string) string {
	if !strings.HasPrefix(path, "/v2/") {
		return path
	}
	rest := path[4:]
	for _, marker := range []string{"/manifests/", "/blobs/", "/tags/"} {
		if i := strings.Index(rest, marker); i >= 0 {
			return "/v2/" + name + rest[i:]
		}
	}
	return path
}

func (g *generator) mutatePath(p string) string {
	if p == "" {
		return "/"
	}
	switch g.r.Intn(22) {
	case 0, 1:
		return g.escapeOne(p, 0)
	case 2:
		return g.escapeOne(p, 4)
	case 3: // an escaped '/'
		if i := strings.LastIndex(p, "/"); i > 0 {
			j := g.r.Intn(i + 1)
			if k := strings.Index(p[j:], "/"); k >= 0 {
				esc := "%2F"
				if g.r.Intn(2) == 0 {
					esc = "%2f"
				}
				return p[:j+k] + esc + p[j+k+1:]
			}
		}
		return p
	case 4: // double escape
		i := g.r.Intn(len(p))
		return p[:i] + fmt.Sprintf("%%25%02x", p[i]) + p[i+1:]
	case 5: // an escaped "/v2/"
		spellings := []string{"%2Fv2%2F", "/%76%32/", "/v%32/", "%2fv2/", "/%762/", "/v2%2F", "/%56%32/"}
		if strings.HasPrefix(p, "/v2/") {
			return g.pick(spellings) + p[4:]
		}
		return g.pick(spellings) + strings.TrimPrefix(p, "/")
	case 6: // a bad escape
		return g.insertAt(p, g.pick([]string{"%", "%G0", "%2", "%%", "%zz", "%0"}), 1)
	case 7: // a dot segment
		return g.insertAt(p, g.pick([]string{"/.", "/..", "/x/..", "/./", "/../"}), 1)
	case 8: // a double slash
		if i := strings.Index(p[1:], "/"); i >= 0 {
			return p[:i+1] + "/" + p[i+1:]
		}
		return "/" + p
	case 9:
		return p + "/"
	case 10: // upper case
		if g.r.Intn(2) == 0 {
			return strings.Replace(p, "/v2/", "/V2/", 1)
		}
		i := g.r.Intn(len(p))
		return p[:i] + strings.ToUpper(p[i:i+1]) + p[i+1:]
	case 11: // ';' parameters
		return g.insertAt(p, g.pick([]string{";", ";x", ";x=y", ";/", ";from=evil"}), 1)
	case 12:
		return g.insertAt(p, "+", 1)
	case 13, 14, 15:
		return rename(p, g.pick(names))
	case 16: // bytes no registry path has
		return g.insertAt(p, g.pick([]string{"\x01", "\x7f", "\xc3\xa9", "#", "#x", "\t", " ", "\\", "\x00"}), 1)
	case 17: // around the prefix
		return g.pick([]string{"/v1", "/v20", "/v2x", "/x/v2", "", "/v2/v2", "//v2"}) + strings.TrimPrefix(p, "/v2")
	case 18: // a second route after the first
		return p + g.pick([]string{"/manifests/latest", "/blobs/" + digest1, "/tags/list", "/blobs/uploads/"})
	case 19: // an escaped route word
		for _, w := range []string{"manifests", "blobs", "uploads", "tags", "list"} {
			if i := strings.Index(p, w); i >= 0 && g.r.Intn(2) == 0 {
				k := i + g.r.Intn(len(w))
				return p[:k] + fmt.Sprintf("%%%02x", p[k]) + p[k+1:]
			}
		}
		return p
	case 20: // no trailing slash on an upload, or one on a tag list
		if strings.HasSuffix(p, "/") {
			return strings.TrimSuffix(p, "/")
		}
		return p + "/"
	default: // another path altogether
		return g.pick([]string{"/v2", "/v2/_catalog", "/token", "/v2/token", "/v2/auth", "/", "*",
			"http://registry.example/v2/library/alpine/manifests/latest", "/v2/library/alpine/referrers/" + digest1})
	}
}

func (g *generator) fromPair() string {
	key := g.pick(fromKeys)
	value := g.pick(fromValues)
	if g.r.Intn(4) == 0 {
		value = g.escapeOne(value, 0)
	}
	return key + "=" + value
}

func (g *generator) mutateQuery(q string) string {
	join := func(a, b string) string {
		if a == "" {
			return b
		}
		return a + g.pick([]string{"&", "&", "&", ";", "&&", "&;"}) + b
	}
	switch g.r.Intn(12) {
	case 0, 1, 2:
		return join(q, g.fromPair())
	case 3:
		return join(g.fromPair(), q)
	case 4:
		return join(q, g.pick([]string{"mount", "m%6Funt", "MOUNT"})+"="+g.pick([]string{digest1, digest2, "x", ""}))
	case 5: // a bad escape in some pair
		return join(q, g.pick([]string{"x=%zz", "from=%4", "%=1", "from=evil%", "fr%6=evil", "mount=%G1"}))
	case 6:
		if q == "" {
			return q
		}
		return g.escapeOne(q, 0)
	case 7:
		return join(q, g.pick([]string{"", "=", "from", "from=", "&", "?from=evil/tool", "#from=evil/tool", "from=a=b"}))
	case 8:
		return ""
	case 9:
		return strings.ReplaceAll(q, "&", ";")
	case 10:
		return join(q, "_state="+g.pick([]string{"abc", "a%2Fb", "a+b"}))
	default:
		return join(q, "digest="+g.pick([]string{digest1, digest2, "x"}))
	}
}

func (g *generator) formBody(contentType string) string {
	pairs := []string{g.fromPair()}
	for g.r.Intn(2) == 0 {
		pairs = append(pairs, g.pick([]string{g.fromPair(), "mount=" + digest2, "mount=" + digest1}))
	}
	if !strings.Contains(strings.ToLower(contentType), "multipart") && !strings.Contains(contentType, "MULT") {
		return strings.Join(pairs, g.pick([]string{"&", "&", ";"}))
	}
	var b strings.Builder
	for _, p := range pairs {
		kv := strings.SplitN(p, "=", 2)
		fmt.Fprintf(&b, "--XyZ\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n", kv[0], kv[1])
	}
	b.WriteString("--XyZ--\r\n")
	return b.String()
}

func (g *generator) next() []byte {
	s := seeds[g.r.Intn(len(seeds))]
	method, path, query, proto := s.method, s.path, s.query, "HTTP/1.1"
	headers := append([][2]string(nil), s.headers...)
	body := s.body
	chunked := false
	for n := 1 + g.r.Intn(5); n > 0; n-- {
		switch g.r.Intn(16) {
		case 0, 1, 2, 3, 4:
			path = g.mutatePath(path)
		case 5, 6, 7, 8:
			query = g.mutateQuery(query)
		case 9, 10: // a form body
			ct := g.pick(contentTypes)
			headers = append([][2]string{{"Content-Type", ct}}, withoutContentType(headers)...)
			body = g.formBody(ct)
		case 11: // another Content-Type header, before or after
			h := [2]string{g.pick([]string{"Content-Type", "content-type", "CONTENT-TYPE", "Content-type"}), g.pick(contentTypes)}
			if g.r.Intn(2) == 0 {
				headers = append([][2]string{h}, headers...)
			} else {
				headers = append(headers, h)
			}
			if body == "" {
				body = g.formBody(h[1])
			}
		case 12, 13:
			method = g.pick(methods)
		case 14:
			chunked = !chunked
		default:
			if g.r.Intn(3) == 0 {
				proto = "HTTP/1.0"
			} else {
				headers = append(headers, [2]string{"Content-Type", g.pick(contentTypes)})
			}
		}
	}
	return build(method, path, query, proto, headers, []byte(body), chunked)
}

func withoutContentType(headers [][2]string) [][2]string {
	var out [][2]string
	for _, h := range headers {
		if !strings.EqualFold(h[0], "Content-Type") {
			out = append(out, h)
		}
	}
	return out
}
