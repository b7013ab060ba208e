package faults

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lorasweep/lorasweep/storage"
)

// serveProc is a running `lorasweep serve` of the real binary.
type serveProc struct {
	t    *testing.T
	addr string // host:port, as serve printed it
	out  *syncBuffer
	cmd  *exec.Cmd
	done chan error
	once sync.Once
	err  error
}

// servingRE matches serve's first line, which says where it listens.
var servingRE = regexp.MustCompile(`serving sweep .* on http://(\S+)/ `)

// startServe starts `lorasweep serve --storage DSN --sweep NAME args...`
// and waits for the line naming its address. When serve exits first (a
// taken port) it returns nil and the output. The process is stopped with
// SIGINT at cleanup at the latest.
func (s *sweepDir) startServe(args ...string) (*serveProc, string) {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	full := append([]string{"serve", "--storage", s.dsn, "--sweep", s.name}, args...)
	p := &serveProc{t: s.t, out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = s.command(ctx, full...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		cancel()
		s.t.Fatalf("start serve: %v", err)
	}
	go func() { p.done <- p.cmd.Wait(); cancel() }()
	s.t.Cleanup(func() { _ = p.stop() })
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-p.done:
			p.once.Do(func() {})
			return nil, fmt.Sprintf("%s(exit: %v)", p.out.String(), err)
		case <-deadline:
			s.t.Fatalf("serve printed no address in 30 s:\n%s", p.out.String())
		case <-tick.C:
			if m := servingRE.FindStringSubmatch(p.out.String()); m != nil {
				p.addr = m[1]
				return p, p.out.String()
			}
		}
	}
}

// stop interrupts serve as Ctrl-C would and returns its exit error (nil:
// a clean shutdown). A serve that ignores SIGINT for 10 s is killed.
func (p *serveProc) stop() error {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case p.err = <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			p.err = fmt.Errorf("serve ignored SIGINT for 10 s: %w", <-p.done)
		}
	})
	return p.err
}

// url is the absolute URL of path on the server.
func (p *serveProc) url(path string) string { return "http://" + p.addr + path }

// noRedirect is an HTTP client that shows redirects instead of following
// them: a rating POST answers 303 when stored.
var noRedirect = &http.Client{
	Timeout:       15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// get fetches path and returns its status and body.
func (p *serveProc) get(path string, hdr map[string]string) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.url(path), nil)
	if err != nil {
		p.t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return p.do(req)
}

// post sends form to path with the given headers.
func (p *serveProc) post(path string, form url.Values, hdr map[string]string) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.url(path), strings.NewReader(form.Encode()))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return p.do(req)
}

func (p *serveProc) do(req *http.Request) (int, string) {
	p.t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v\nserve said:\n%s", req.Method, req.URL, err, p.out.String())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("read %s: %v", req.URL, err)
	}
	return resp.StatusCode, string(body)
}

// rawGetLoc sends target byte for byte as the request line, so no client
// cleans a "../" out of it first; it returns the status, body and Location.
func (p *serveProc) rawGetLoc(target string) (int, string, string) {
	p.t.Helper()
	c, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	if err != nil {
		p.t.Fatalf("dial %s: %v", p.addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, p.addr); err != nil {
		p.t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		p.t.Fatalf("read response to GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header.Get("Location")
}

// rawGetFollow is rawGet following up to 3 redirects on this server.
func (p *serveProc) rawGetFollow(target string) (code int, body string, hops int) {
	p.t.Helper()
	for {
		var loc string
		code, body, loc = p.rawGetLoc(target)
		if code < 300 || code > 399 || loc == "" || hops == 3 {
			return code, body, hops
		}
		u, err := url.Parse(loc)
		if err != nil || (u.Host != "" && u.Host != p.addr) {
			p.t.Fatalf("GET %s redirects off the server to %q", target, loc)
		}
		target, hops = u.RequestURI(), hops+1
	}
}

// tokenRE finds the same-origin token a rating page's forms carry.
var tokenRE = regexp.MustCompile(`name="token" value="([0-9a-f]+)"`)

// firstFile returns the first file under root whose name ends in ext.
func firstFile(t *testing.T, root, ext string) string {
	t.Helper()
	var found string
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && found == "" && !d.IsDir() && strings.HasSuffix(path, ext) {
			found = path
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no %s file under %s", ext, root)
	}
	return found
}

// TestServeThroughBinary checks issue 10's serve promises on the real
// binary and a real socket: it listens on loopback unless told otherwise,
// rating POSTs need the page's token (and a stored rating is readable from
// storage), images outside the sweep's folders are refused however the path
// is spelled, and a non-loopback address is warned about.
func TestServeThroughBinary(t *testing.T) {
	s := newSweep(t, specOpts{name: "serve", trials: 3})
	if out, code := s.run(time.Minute, "run", s.spec); code != 0 {
		t.Fatalf("run exited %d:\n%s", code, out)
	}

	// The default address: 127.0.0.1:8080. The port may be taken on a
	// shared machine; then serve must say so naming the loopback address,
	// and the rest runs on a free loopback port.
	p, out := s.startServe()
	if p == nil {
		if !strings.Contains(out, "listen on 127.0.0.1:8080") {
			t.Fatalf("serve without --addr exited without listening, and not on 127.0.0.1:8080:\n%s", out)
		}
		t.Logf("port 8080 is taken here; the default address was read from serve's refusal: %s", strings.TrimSpace(out))
		if p, out = s.startServe("--addr", "127.0.0.1:0"); p == nil {
			t.Fatalf("serve --addr 127.0.0.1:0 did not start:\n%s", out)
		}
	} else {
		t.Logf("serve without --addr listens on %s", p.addr)
		host, port, err := net.SplitHostPort(p.addr)
		if err != nil || !net.ParseIP(host).IsLoopback() {
			t.Errorf("serve without --addr listens on %q, want a loopback address", p.addr)
		}
		if strings.Contains(out, "non-loopback") {
			t.Errorf("default start warned about a non-loopback address:\n%s", out)
		}
		// Nothing answers on the machine's other addresses at that port.
		ips := nonLoopbackIPs()
		t.Logf("probing port %s on %d non-loopback addresses %v", port, len(ips), ips)
		for _, ip := range ips {
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), time.Second); err == nil {
				c.Close()
				t.Errorf("serve without --addr is reachable on %s:%s", ip, port)
			}
		}
	}

	t.Run("foreign Host refused (DNS rebinding)", func(t *testing.T) {
		if code, _ := p.get("/live/", map[string]string{"Host": "evil.example:8080"}); code != http.StatusForbidden {
			t.Errorf("GET /live/ with Host evil.example = %d, want 403", code)
		}
	})

	t.Run("ratings need the page's token", func(t *testing.T) {
		code, page := p.get("/rate", nil)
		if code != http.StatusOK {
			t.Fatalf("GET /rate = %d", code)
		}
		m := tokenRE.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("the rate page carries no token:\n%.2000s", page)
		}
		token := m[1]
		trials := s.trials()
		if len(trials) < 2 {
			t.Fatalf("%d trials recorded, want 3", len(trials))
		}
		self := "http://" + p.addr
		tests := []struct {
			name     string
			path     string
			form     url.Values
			hdr      map[string]string
			wantCode int
		}{
			{name: "no token", path: "/api/rate", form: url.Values{"trial": {"1"}, "stars": {"4"}}, wantCode: http.StatusForbidden},
			{name: "wrong token", path: "/api/rate", form: url.Values{"token": {strings.Repeat("0", len(token))}, "trial": {"1"}, "stars": {"4"}}, wantCode: http.StatusForbidden},
			{name: "token from another origin", path: "/api/rate", form: url.Values{"token": {token}, "trial": {"1"}, "stars": {"4"}}, hdr: map[string]string{"Origin": "http://evil.example"}, wantCode: http.StatusForbidden},
			{name: "pick without token", path: "/api/pick", form: url.Values{"winner": {"1"}, "loser": {"0"}}, wantCode: http.StatusForbidden},
			{name: "stars with the page's token", path: "/api/rate", form: url.Values{"token": {token}, "trial": {"1"}, "stars": {"4"}}, hdr: map[string]string{"Origin": self}, wantCode: http.StatusSeeOther},
			{name: "pick with the token in the header", path: "/api/pick", form: url.Values{"winner": {"2"}, "loser": {"0"}}, hdr: map[string]string{"X-Lorasweep-Token": token}, wantCode: http.StatusSeeOther},
		}
		for _, tc := range tests {
			if code, body := p.post(tc.path, tc.form, tc.hdr); code != tc.wantCode {
				t.Errorf("%s: POST %s = %d, want %d: %s", tc.name, tc.path, code, tc.wantCode, body)
			}
		}
		// Exactly the two accepted POSTs are stored, as sent.
		ctx := context.Background()
		st, err := storage.Open(ctx, s.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		id, err := st.GetStudyIDFromName(s.name)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := st.Ratings(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		idOf := map[int]int{}
		for _, tr := range trials {
			if tr.Run != nil {
				idOf[tr.Number] = tr.Run.TrialID
			}
		}
		var stars, picks int
		for _, r := range rs {
			switch {
			case r.Other == nil && r.TrialID == idOf[1] && r.Stars == 4:
				stars++
			case r.Other != nil && r.TrialID == idOf[2] && *r.Other == idOf[0]:
				picks++
			default:
				t.Errorf("unexpected rating stored: %+v", r)
			}
		}
		if stars != 1 || picks != 1 {
			t.Errorf("stored %d star ratings of trial 1 and %d picks of 2 over 0, want 1 and 1 (%d ratings in all)", stars, picks, len(rs))
		}
	})

	t.Run("no image from outside the sweep", func(t *testing.T) {
		sample := firstFile(t, s.runs, ".png")
		secret := []byte("\x89PNG top secret, outside the sweep")
		outside := filepath.Join(s.dir, "secret.png")
		if err := os.WriteFile(outside, secret, 0o644); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(filepath.Dir(sample), "escape.png")
		if err := os.Symlink(outside, link); err != nil {
			t.Fatal(err)
		}
		enc := func(path string) string {
			return (&url.URL{Path: "/live/" + strings.TrimPrefix(filepath.ToSlash(path), "/")}).EscapedPath()
		}
		sampleDir := strings.TrimPrefix(filepath.ToSlash(filepath.Dir(sample)), "/")
		up := strings.Repeat("../", strings.Count(sampleDir, "/")+1)
		tests := []struct {
			name     string
			target   string
			wantCode int // 0: anything but 200
		}{
			{name: "sample inside the output root", target: enc(sample), wantCode: http.StatusOK},
			{name: "absolute path outside", target: enc(outside), wantCode: http.StatusForbidden},
			{name: "symlink out of the output root", target: enc(link), wantCode: http.StatusForbidden},
			{name: "dot-dot from a sample folder", target: "/live/" + sampleDir + "/" + up + strings.TrimPrefix(outside, "/")},
			{name: "encoded dot-dot", target: "/live/" + sampleDir + "/" + strings.ReplaceAll(up, "..", "%2e%2e") + strings.TrimPrefix(outside, "/")},
			{name: "dot-dot to a system file", target: "/live/" + sampleDir + "/" + up + "etc/passwd"},
			{name: "system file", target: "/live/etc/passwd", wantCode: http.StatusNotFound},
		}
		for _, tc := range tests {
			// A browser follows the mux's redirect to the cleaned path: so
			// does the test, and the place it lands must refuse too.
			code, body, hops := p.rawGetFollow(tc.target)
			t.Logf("%s: GET %s = %d (after %d redirects)", tc.name, tc.target, code, hops)
			switch {
			case tc.wantCode == 0 && code == http.StatusOK:
				t.Errorf("%s: GET %s = 200: traversal served a file", tc.name, tc.target)
			case tc.wantCode != 0 && code != tc.wantCode:
				t.Errorf("%s: GET %s = %d, want %d", tc.name, tc.target, code, tc.wantCode)
			}
			if strings.Contains(body, "top secret") || strings.Contains(body, "root:") {
				t.Errorf("%s: GET %s served a file from outside the sweep", tc.name, tc.target)
			}
		}
	})

	if err := p.stop(); err != nil {
		t.Errorf("serve did not stop cleanly on SIGINT: %v\n%s", err, p.out.String())
	}

	t.Run("non-loopback address warned about", func(t *testing.T) {
		open, out := s.startServe("--addr", "0.0.0.0:0")
		if open == nil {
			t.Fatalf("serve --addr 0.0.0.0:0 did not start:\n%s", out)
		}
		if err := open.stop(); err != nil {
			t.Errorf("serve did not stop cleanly: %v", err)
		}
		out = open.out.String()
		for _, want := range []string{"non-loopback", "read the report", "rate trials"} {
			if !strings.Contains(out, want) {
				t.Errorf("serve --addr 0.0.0.0:0 printed no warning with %q:\n%s", want, out)
			}
		}
	})
}

// nonLoopbackIPs are this machine's other IPv4 addresses (none in a bare
// network namespace).
func nonLoopbackIPs() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			out = append(out, n.IP.String())
		}
	}
	return out
}
