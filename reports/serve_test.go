package reports_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/reports"
)

const serveToken = "test-token-0123456789"

func newTestServer(t *testing.T, s *exportSweep, loopback bool) http.Handler {
	t.Helper()
	srv, err := reports.NewServer(s.store, s.studyID, reports.ServerOptions{Token: serveToken, LoopbackOnly: loopback})
	if err != nil {
		t.Fatal(err)
	}
	return srv.Handler()
}

func do(h http.Handler, method, target string, form url.Values, hdr map[string]string) *httptest.ResponseRecorder {
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	req.Host = "127.0.0.1:8080"
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// sampleOf returns one recorded sample image path of the sweep's trials.
func sampleOf(t *testing.T, s *exportSweep) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(s.dir, "runs", "*", "trial-0001", "output", "sample", "*.png"))
	if len(matches) == 0 {
		t.Fatal("no sample image in the fixture")
	}
	return matches[0]
}

func fileTarget(path string) string {
	return "/live/" + strings.TrimPrefix(filepath.ToSlash(path), "/")
}

func TestServePages(t *testing.T) {
	s := newExportSweep(t, 3)
	h := newTestServer(t, s, true)
	tests := []struct {
		name     string
		target   string
		wantCode int
		want     []string
	}{
		{name: "root redirects", target: "/", wantCode: http.StatusFound},
		{name: "live report", target: "/live/", wantCode: http.StatusOK, want: []string{`http-equiv="refresh"`, "live: reloads", "export-test"}},
		{name: "rate page", target: "/rate", wantCode: http.StatusOK, want: []string{`name="token" value="` + serveToken, `name="stars" value="5"`, "/live/"}},
		{name: "compare page", target: "/compare", wantCode: http.StatusOK, want: []string{"is better", `name="winner"`, `name="token" value="` + serveToken}},
		{name: "compare chosen", target: "/compare?a=0&b=1", wantCode: http.StatusOK, want: []string{"trial 0", "trial 1"}},
		{name: "compare bad pair", target: "/compare?a=1&b=1", wantCode: http.StatusBadRequest},
		{name: "ratings not by GET", target: "/api/rate?trial=1&stars=5", wantCode: http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(h, http.MethodGet, tc.target, nil, nil)
			if rec.Code != tc.wantCode {
				t.Fatalf("GET %s = %d, want %d: %s", tc.target, rec.Code, tc.wantCode, rec.Body.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("GET %s: body lacks %q", tc.target, w)
				}
			}
		})
	}
	ratings, err := s.store.Ratings(context.Background(), s.studyID)
	if err != nil || len(ratings) != 0 {
		t.Errorf("GETs stored ratings: %v %v", ratings, err)
	}
}

func TestServeFiles(t *testing.T) {
	s := newExportSweep(t, 2)
	h := newTestServer(t, s, true)
	sample := sampleOf(t, s)
	outside := filepath.Join(s.dir, "outside.png")
	if err := os.WriteFile(outside, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(filepath.Dir(sample), "escape.png")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(filepath.Dir(sample), "notes.txt")
	if err := os.WriteFile(log, []byte("text"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		target   string
		wantCode int
	}{
		{name: "sample image", target: fileTarget(sample), wantCode: http.StatusOK},
		{name: "image outside the sweep", target: fileTarget(outside), wantCode: http.StatusForbidden},
		{name: "symlink escaping", target: fileTarget(link), wantCode: http.StatusForbidden},
		{name: "dot-dot", target: "/live/" + strings.TrimPrefix(filepath.ToSlash(filepath.Dir(sample)), "/") + "/../../../../../outside.png", wantCode: -1},
		{name: "encoded dot-dot", target: "/live/" + strings.TrimPrefix(filepath.ToSlash(filepath.Dir(sample)), "/") + "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/outside.png", wantCode: -1},
		{name: "not an image", target: fileTarget(log), wantCode: http.StatusNotFound},
		{name: "system file", target: "/live/etc/passwd", wantCode: http.StatusNotFound},
		{name: "missing", target: fileTarget(filepath.Join(filepath.Dir(sample), "nope.png")), wantCode: http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(h, http.MethodGet, tc.target, nil, nil)
			if tc.wantCode == -1 {
				if rec.Code == http.StatusOK || strings.Contains(rec.Body.String(), "secret") {
					t.Fatalf("GET %s = %d %q: traversal served a file", tc.target, rec.Code, rec.Body.String())
				}
				return
			}
			if rec.Code != tc.wantCode {
				t.Fatalf("GET %s = %d, want %d", tc.target, rec.Code, tc.wantCode)
			}
			if rec.Code == http.StatusOK && !strings.HasPrefix(rec.Body.String(), "\x89PNG") {
				t.Errorf("served %q", rec.Body.String())
			}
			if strings.Contains(rec.Body.String(), "secret") {
				t.Error("served the outside file")
			}
		})
	}
}

func TestServeRatingSecurity(t *testing.T) {
	s := newExportSweep(t, 3)
	h := newTestServer(t, s, true)
	good := url.Values{"token": {serveToken}, "trial": {"1"}, "stars": {"4"}}
	tests := []struct {
		name     string
		form     url.Values
		hdr      map[string]string
		wantCode int
	}{
		{name: "no token", form: url.Values{"trial": {"1"}, "stars": {"4"}}, wantCode: http.StatusForbidden},
		{name: "wrong token", form: url.Values{"token": {"guess"}, "trial": {"1"}, "stars": {"4"}}, wantCode: http.StatusForbidden},
		{name: "foreign origin", form: good, hdr: map[string]string{"Origin": "http://evil.example"}, wantCode: http.StatusForbidden},
		{name: "cross-site fetch", form: good, hdr: map[string]string{"Sec-Fetch-Site": "cross-site"}, wantCode: http.StatusForbidden},
		{name: "rebinding host", form: good, hdr: map[string]string{"Host": "evil.example:8080"}, wantCode: http.StatusForbidden},
		{name: "bad stars", form: url.Values{"token": {serveToken}, "trial": {"1"}, "stars": {"9"}}, wantCode: http.StatusBadRequest},
		{name: "unknown trial", form: url.Values{"token": {serveToken}, "trial": {"77"}, "stars": {"3"}}, wantCode: http.StatusNotFound},
		{name: "same origin with token", form: good, hdr: map[string]string{"Origin": "http://127.0.0.1:8080"}, wantCode: http.StatusSeeOther},
		{name: "token in header", form: url.Values{"trial": {"2"}, "stars": {"2"}}, hdr: map[string]string{"X-Lorasweep-Token": serveToken, "Host": "localhost:8080"}, wantCode: http.StatusSeeOther},
	}
	stored := 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(h, http.MethodPost, "/api/rate", tc.form, tc.hdr)
			if rec.Code != tc.wantCode {
				t.Fatalf("POST = %d, want %d: %s", rec.Code, tc.wantCode, rec.Body.String())
			}
			if rec.Code == http.StatusSeeOther {
				stored++
			}
			rs, err := s.store.Ratings(context.Background(), s.studyID)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != stored {
				t.Errorf("%d ratings stored, want %d", len(rs), stored)
			}
		})
	}
	if rec := do(h, http.MethodGet, "/live/", nil, map[string]string{"Host": "evil.example"}); rec.Code != http.StatusForbidden {
		t.Errorf("GET with a foreign Host = %d, want 403", rec.Code)
	}
	open := newTestServer(t, s, false)
	if rec := do(open, http.MethodGet, "/rate", nil, map[string]string{"Host": "gpu-box:8080"}); rec.Code != http.StatusOK {
		t.Errorf("GET on a non-loopback server = %d, want 200", rec.Code)
	}
}

func TestServeRatingsFeedTheRatingScorer(t *testing.T) {
	s := newExportSweep(t, 3)
	h := newTestServer(t, s, true)
	post := func(path string, form url.Values) {
		t.Helper()
		form.Set("token", serveToken)
		if rec := do(h, http.MethodPost, path, form, nil); rec.Code != http.StatusSeeOther {
			t.Fatalf("POST %s = %d: %s", path, rec.Code, rec.Body.String())
		}
	}
	post("/api/rate", url.Values{"trial": {"0"}, "stars": {"5"}})
	post("/api/pick", url.Values{"winner": {"0"}, "loser": {"2"}})
	post("/api/pick", url.Values{"winner": {"0"}, "loser": {"1"}})
	if rec := do(h, http.MethodPost, "/api/pick", url.Values{"token": {serveToken}, "winner": {"1"}, "loser": {"1"}}, nil); rec.Code != http.StatusBadRequest {
		t.Errorf("pick of a trial against itself = %d, want 400", rec.Code)
	}

	ratings, err := reports.LoadRatings(context.Background(), s.store, s.studyID)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		trial int
		want  []objective.RatingValue
	}{
		{name: "starred winner", trial: 0, want: []objective.RatingValue{{Stars: 5}, {Opponent: 2, Won: true}, {Opponent: 1, Won: true}}},
		{name: "loser", trial: 1, want: []objective.RatingValue{{Opponent: 0}}},
		{name: "other loser", trial: 2, want: []objective.RatingValue{{Opponent: 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ratings.Ratings(context.Background(), tc.trial)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("ratings of trial %d = %+v, want %+v", tc.trial, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("rating %d of trial %d = %+v, want %+v", i, tc.trial, got[i], tc.want[i])
				}
			}
		})
	}

	// The objective's rating scorer re-ranks with them: trial 0, rated best,
	// overtakes trials with higher stored values.
	obj, err := objective.New(objective.Spec{Direction: "maximize", Scorers: []objective.ScorerSpec{{Kind: "health"}, {Kind: "rating", Weight: 3}}}, "",
		objective.WithRatings(ratings))
	if err != nil {
		t.Fatal(err)
	}
	ranked, err := obj.Rerank(context.Background(), []objective.TrialValue{{Number: 0, Value: 0.4}, {Number: 1, Value: 0.6}, {Number: 2, Value: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if ranked[0].Number != 0 || ranked[0].Value != 0.4 {
		t.Errorf("rerank = %+v, want trial 0 first with its value unchanged", ranked)
	}
}
