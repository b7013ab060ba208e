package reports

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/sweep"
)

// The live server (`lorasweep serve`) shows the report's views while a
// sweep runs and takes ratings. Security decisions (issue 10):
//
//   - It is meant for loopback (the CLI's default address). With
//     ServerOptions.LoopbackOnly the Host header must name a loopback host,
//     so a DNS-rebinding page cannot read the sweep through the browser.
//   - Every POST needs the per-process random token, which only pages this
//     server rendered carry (a hidden form field, or the X-Lorasweep-Token
//     header), and an Origin, when the browser sends one, equal to the
//     server's own. Ratings are never written by a GET.
//   - Images are served only from inside the sweep's output root and the
//     trial folders its runs recorded, after resolving symlinks, and only
//     image files; a path with a ".." element is refused before it is
//     looked at.

// ServeStore is what the live server reads of a sweep and writes ratings
// to. storage.Store satisfies it.
type ServeStore interface {
	Store
}

// ServerOptions configure a Server. The zero value is usable.
type ServerOptions struct {
	// Refresh is how often the report page reloads itself (default 30s).
	Refresh time.Duration
	// Token is the same-origin token POSTs must carry; empty makes a random
	// one.
	Token string
	// LoopbackOnly refuses requests whose Host is not localhost or a
	// loopback address.
	LoopbackOnly bool
	// Rater is recorded with each rating (default "web").
	Rater string
	// Report shapes the report page (BaseDir is set by the server).
	Report Options
	// Logger logs refused requests (nil: discarded).
	Logger *slog.Logger
}

// Server serves one sweep's live report, its rating pages and its images.
type Server struct {
	store   ServeStore
	studyID int
	opts    ServerOptions
}

// Paths the server answers.
const (
	pathReport  = "/live/"
	pathFiles   = "/live/"
	pathRate    = "/rate"
	pathCompare = "/compare"
	pathAPIRate = "/api/rate"
	pathAPIPick = "/api/pick"
	tokenHeader = "X-Lorasweep-Token"
	tokenField  = "token"
)

// NewServer returns a server for the sweep studyID of store.
func NewServer(store ServeStore, studyID int, opts ServerOptions) (*Server, error) {
	if opts.Refresh <= 0 {
		opts.Refresh = 30 * time.Second
	}
	if opts.Rater == "" {
		opts.Rater = "web"
	}
	if opts.Token == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("make server token: %w", err)
		}
		opts.Token = hex.EncodeToString(b)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{store: store, studyID: studyID, opts: opts}, nil
}

// Token returns the same-origin token POST requests must carry.
func (s *Server) Token() string { return s.opts.Token }

// IsLoopbackAddr reports whether a listen address (host:port) binds only
// loopback interfaces.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	return isLoopbackHost(host)
}

func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, pathReport, http.StatusFound)
	})
	mux.HandleFunc("GET "+pathReport+"{$}", s.report)
	mux.HandleFunc("GET "+pathFiles, s.file)
	mux.HandleFunc("GET "+pathRate, s.ratePage)
	mux.HandleFunc("GET "+pathCompare, s.comparePage)
	mux.HandleFunc("POST "+pathAPIRate, s.apiRate)
	mux.HandleFunc("POST "+pathAPIPick, s.apiPick)
	return s.guard(mux)
}

// guard applies the checks every request passes: Host, and for POSTs the
// Origin and the token. It also sets headers that keep pages from being
// framed or sniffed.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
		if s.opts.LoopbackOnly {
			host := r.Host
			if hh, _, err := net.SplitHostPort(r.Host); err == nil {
				host = hh
			}
			if !isLoopbackHost(host) {
				s.refuse(w, r, http.StatusForbidden, "host not allowed")
				return
			}
		}
		if r.Method == http.MethodPost {
			if o := r.Header.Get("Origin"); o != "" {
				u, err := url.Parse(o)
				if err != nil || u.Host != r.Host {
					s.refuse(w, r, http.StatusForbidden, "cross-origin request")
					return
				}
			}
			if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
				s.refuse(w, r, http.StatusForbidden, "cross-site request")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
			tok := r.Header.Get(tokenHeader)
			if tok == "" {
				tok = r.PostFormValue(tokenField)
			}
			if subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.Token)) != 1 {
				s.refuse(w, r, http.StatusForbidden, "missing or wrong token")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, why string) {
	s.opts.Logger.Warn("request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "why", why)
	http.Error(w, why, code)
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	s.opts.Logger.Error("serve", "err", err)
	http.Error(w, "internal error: "+err.Error(), http.StatusInternalServerError)
}

// report renders the HTML report from the store as it is now, at /live/.
// Its links to full-size images are relative (BaseDir "/" makes each the
// absolute path less its leading slash), so they resolve to /live/<path>,
// which file resolves and checks.
func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	d, err := Load(r.Context(), s.store, s.studyID)
	if err != nil {
		s.fail(w, err)
		return
	}
	opts := s.opts.Report
	opts.BaseDir = string(filepath.Separator)
	opts.Now = time.Now()
	var buf bytes.Buffer
	if err := writeHTMLSafe(&buf, d, opts); err != nil {
		s.fail(w, err)
		return
	}
	page := buf.String()
	head := fmt.Sprintf(`<meta http-equiv="refresh" content="%d">`, int(s.opts.Refresh.Seconds()))
	page = strings.Replace(page, "<head>", "<head>\n"+head, 1)
	bar := fmt.Sprintf(`<div style="background:#eef;padding:4px 8px">live: reloads every %s · <a href="%s">rate trials</a> · <a href="%s">compare two trials</a></div>`,
		template.HTMLEscapeString(s.opts.Refresh.String()), pathRate, pathCompare)
	page = insertAfterTag(page, "<body", bar)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(page))
}

// writeHTMLSafe renders the report, turning a panic in a chart into an
// error: the live page answers 500 with the reason instead of dropping the
// connection, and the rating pages keep working.
func writeHTMLSafe(buf *bytes.Buffer, d *Data, opts Options) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("render report: panic: %v", r)
		}
	}()
	return WriteHTML(buf, d, opts)
}

// insertAfterTag inserts html right after the first tag starting with open.
func insertAfterTag(page, open, html string) string {
	i := strings.Index(page, open)
	if i < 0 {
		return html + page
	}
	j := strings.IndexByte(page[i:], '>')
	if j < 0 {
		return page + html
	}
	k := i + j + 1
	return page[:k] + html + page[k:]
}

// imageExts are the files /live/ serves.
var imageExts = map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}

// file serves an image by its absolute path (the URL path after /live/)
// when it lies inside the sweep's output root or a recorded trial folder.
func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	raw := strings.TrimPrefix(r.URL.Path, pathFiles)
	for _, el := range strings.Split(raw, "/") {
		if el == ".." {
			s.refuse(w, r, http.StatusBadRequest, "path traversal")
			return
		}
	}
	ctype, ok := imageExts[strings.ToLower(filepath.Ext(raw))]
	if !ok {
		s.refuse(w, r, http.StatusNotFound, "not an image")
		return
	}
	path := filepath.Join(string(filepath.Separator), filepath.FromSlash(raw))
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	roots, err := s.fileRoots(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	allowed := false
	for _, root := range roots {
		if exportWithin(root, real) {
			allowed = true
			break
		}
	}
	if !allowed {
		s.refuse(w, r, http.StatusForbidden, "outside the sweep's folders")
		return
	}
	f, err := os.Open(real)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ctype)
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// fileRoots are the folders images may be served from, symlinks resolved.
func (s *Server) fileRoots(ctx context.Context) ([]string, error) {
	name, err := s.store.GetStudyNameFromID(s.studyID)
	if err != nil {
		return nil, fmt.Errorf("read sweep: %w", err)
	}
	spec, _, err := sweep.LoadStoredSpec(s.store, name)
	if err != nil {
		return nil, err
	}
	dirs := []string{spec.OutputRoot}
	runs, err := s.store.Runs(ctx, s.studyID)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	for _, run := range runs {
		dirs = append(dirs, run.TrialDir)
	}
	var roots []string
	for _, d := range dirs {
		if d == "" || !filepath.IsAbs(d) {
			continue
		}
		if real, err := filepath.EvalSymlinks(d); err == nil {
			roots = append(roots, real)
		}
	}
	return roots, nil
}

// apiRate stores a star rating: form fields trial (number) and stars (1..5).
func (s *Server) apiRate(w http.ResponseWriter, r *http.Request) {
	num, err1 := strconv.Atoi(r.PostFormValue("trial"))
	stars, err2 := strconv.Atoi(r.PostFormValue("stars"))
	if err1 != nil || err2 != nil || stars < 1 || stars > 5 {
		http.Error(w, "want trial=N and stars=1..5", http.StatusBadRequest)
		return
	}
	ids, err := s.trialIDs()
	if err != nil {
		s.fail(w, err)
		return
	}
	id, ok := ids[num]
	if !ok {
		http.Error(w, fmt.Sprintf("no trial %d", num), http.StatusNotFound)
		return
	}
	if _, err := s.store.AddRating(r.Context(), sweep.Rating{TrialID: id, Stars: stars, Rater: s.opts.Rater}); err != nil {
		s.fail(w, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("%s#trial-%d", pathRate, num), http.StatusSeeOther)
}

// apiPick stores a pairwise pick: form fields winner and loser (numbers).
func (s *Server) apiPick(w http.ResponseWriter, r *http.Request) {
	win, err1 := strconv.Atoi(r.PostFormValue("winner"))
	lose, err2 := strconv.Atoi(r.PostFormValue("loser"))
	if err1 != nil || err2 != nil || win == lose {
		http.Error(w, "want winner=N and loser=M, two different trials", http.StatusBadRequest)
		return
	}
	ids, err := s.trialIDs()
	if err != nil {
		s.fail(w, err)
		return
	}
	wid, ok1 := ids[win]
	lid, ok2 := ids[lose]
	if !ok1 || !ok2 {
		http.Error(w, "no such trial", http.StatusNotFound)
		return
	}
	if _, err := s.store.AddRating(r.Context(), sweep.Rating{TrialID: wid, Other: &lid, Rater: s.opts.Rater}); err != nil {
		s.fail(w, err)
		return
	}
	http.Redirect(w, r, pathCompare, http.StatusSeeOther)
}

// trialIDs maps trial numbers to storage IDs.
func (s *Server) trialIDs() (map[int]int, error) {
	trials, err := s.store.GetAllTrials(s.studyID)
	if err != nil {
		return nil, fmt.Errorf("read trials: %w", err)
	}
	m := make(map[int]int, len(trials))
	for _, t := range trials {
		m[t.Number] = t.ID
	}
	return m, nil
}

// RatingStore is what LoadRatings reads.
type RatingStore interface {
	GetAllTrials(studyID int) ([]goptuna.FrozenTrial, error)
	Ratings(ctx context.Context, studyID int) ([]sweep.Rating, error)
}

// Ratings are a sweep's stored human ratings keyed by trial number, as
// objective's rating scorer reads them: it implements
// objective.RatingSource. A pairwise pick counts as a win for the chosen
// trial and a loss for the other.
type Ratings map[int][]objective.RatingValue

// LoadRatings reads every rating of the sweep at once.
func LoadRatings(ctx context.Context, store RatingStore, studyID int) (Ratings, error) {
	trials, err := store.GetAllTrials(studyID)
	if err != nil {
		return nil, fmt.Errorf("read trials: %w", err)
	}
	num := make(map[int]int, len(trials))
	for _, t := range trials {
		num[t.ID] = t.Number
	}
	rs, err := store.Ratings(ctx, studyID)
	if err != nil {
		return nil, fmt.Errorf("read ratings: %w", err)
	}
	return ratingsByNumber(num, rs), nil
}

// ratingsByNumber keys stored ratings (by trial ID) by trial number; num
// maps trial IDs to numbers.
func ratingsByNumber(num map[int]int, rs []sweep.Rating) Ratings {
	out := Ratings{}
	for _, r := range rs {
		n, ok := num[r.TrialID]
		if !ok {
			continue
		}
		if r.Other == nil {
			out[n] = append(out[n], objective.RatingValue{Stars: float64(r.Stars)})
			continue
		}
		o, ok := num[*r.Other]
		if !ok {
			continue
		}
		out[n] = append(out[n], objective.RatingValue{Opponent: o, Won: true})
		out[o] = append(out[o], objective.RatingValue{Opponent: n, Won: false})
	}
	return out
}

// Ratings returns the ratings of trial number n (objective.RatingSource).
func (r Ratings) Ratings(_ context.Context, n int) ([]objective.RatingValue, error) {
	return r[n], nil
}

// summary is a trial's ratings as the rating pages show them.
func (r Ratings) summary(n int) (stars float64, nStars, wins, games int) {
	for _, v := range r[n] {
		if v.Stars > 0 {
			stars += v.Stars
			nStars++
			continue
		}
		games++
		if v.Won {
			wins++
		}
	}
	if nStars > 0 {
		stars /= float64(nStars)
	}
	return stars, nStars, wins, games
}

// ratable are the trials with a value, ranked best first, detailed (their
// samples read).
func (s *Server) ratable(ctx context.Context) (*Data, []*Trial, error) {
	d, err := Load(ctx, s.store, s.studyID)
	if err != nil {
		return nil, nil, err
	}
	var nums []int
	for _, t := range d.Trials {
		if t.Value != nil {
			nums = append(nums, t.Number)
		}
	}
	if err := d.LoadDetail(ctx, s.store, nums...); err != nil {
		return nil, nil, err
	}
	var out []*Trial
	for i := range d.Trials {
		if d.Trials[i].Value != nil {
			out = append(out, &d.Trials[i])
		}
	}
	return d, out, nil
}

// imageView is one sample image on a rating page.
type imageView struct {
	URL    string
	Prompt string
}

type rateRow struct {
	Number  int
	Value   string
	Epoch   string
	Stars   string
	Picks   string
	Images  []imageView
	Options []int
}

// bestSamples are a trial's samples at its best candidate (its last
// sampled one without one), in prompt order.
func bestSamples(t *Trial) []imageView {
	best, ok := bestOf(t)
	if cs := sampleCandidates(t); !ok && len(cs) > 0 {
		best = cs[len(cs)-1]
	}
	var out []imageView
	var ss []sweep.SampleRecord
	for _, s := range t.Samples {
		if sampleCandidate(s) == best {
			ss = append(ss, s)
		}
	}
	sort.SliceStable(ss, func(i, j int) bool {
		if ss[i].PromptIndex != ss[j].PromptIndex {
			return ss[i].PromptIndex < ss[j].PromptIndex
		}
		return ss[i].Seed < ss[j].Seed
	})
	for _, s := range ss {
		out = append(out, imageView{URL: fileURL(s.Path), Prompt: s.Prompt})
	}
	return out
}

// fileURL is the /live/ URL of an absolute path.
func fileURL(path string) string {
	return (&url.URL{Path: pathFiles + strings.TrimPrefix(filepath.ToSlash(path), "/")}).String()
}

var ratePageTmpl = template.Must(template.New("rate").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rate trials: {{.Sweep}}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em}img{width:160px;height:160px;object-fit:contain;border:1px solid #ccc;margin:2px}
.trial{border-bottom:1px solid #ddd;padding:.6em 0}form{display:inline}button{margin:0 2px}</style></head>
<body><p><a href="/live/">report</a> · <a href="/compare">compare two trials</a></p>
<h1>Rate trials of {{.Sweep}}</h1>
<p>Stars and picks are stored with the sweep. They never change a trial's value; a <code>{kind: rating}</code> scorer in the objective uses them to re-rank finished trials.</p>
{{range .Rows}}<div class="trial" id="trial-{{.Number}}"><b>trial {{.Number}}</b> value {{.Value}} · best {{.Epoch}} · stars {{.Stars}} · picks {{.Picks}}
<form method="post" action="/api/rate"><input type="hidden" name="token" value="{{$.Token}}"><input type="hidden" name="trial" value="{{.Number}}">
{{range .Options}}<button name="stars" value="{{.}}">{{.}}★</button>{{end}}</form><br>
{{range .Images}}<img src="{{.URL}}" alt="{{.Prompt}}" title="{{.Prompt}}">{{end}}</div>
{{else}}<p>No trial has a value yet.</p>{{end}}
</body></html>`))

func (s *Server) ratePage(w http.ResponseWriter, r *http.Request) {
	d, trials, err := s.ratable(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	ratings, err := LoadRatings(r.Context(), s.store, s.studyID)
	if err != nil {
		s.fail(w, err)
		return
	}
	var rows []rateRow
	for _, t := range trials {
		stars, nStars, wins, games := ratings.summary(t.Number)
		row := rateRow{Number: t.Number, Value: fmtValue(t.Value), Epoch: orDash(t.BestLabel()), Stars: "-", Picks: "-",
			Images: bestSamples(t), Options: []int{1, 2, 3, 4, 5}}
		if nStars > 0 {
			row.Stars = fmt.Sprintf("%.1f (%d)", stars, nStars)
		}
		if games > 0 {
			row.Picks = fmt.Sprintf("won %d of %d", wins, games)
		}
		rows = append(rows, row)
	}
	s.render(w, ratePageTmpl, map[string]any{"Sweep": d.Sweep, "Token": s.opts.Token, "Rows": rows})
}

var comparePageTmpl = template.Must(template.New("compare").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>compare trials: {{.Sweep}}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em}img{width:256px;height:256px;object-fit:contain;border:1px solid #ccc}
td{vertical-align:top;padding:4px}</style></head>
<body><p><a href="/live/">report</a> · <a href="/rate">rate trials</a></p>
<h1>Which is better?</h1>
{{if .A}}<p>Sample grids of two trials at their best epochs, same prompts and seeds. Values are hidden so the pick is yours.</p>
<table><tr><th>prompt</th><th>trial {{.A.Number}}</th><th>trial {{.B.Number}}</th></tr>
{{range .Pairs}}<tr><td>{{.Prompt}}</td><td>{{if .A}}<img src="{{.A}}" alt="">{{end}}</td><td>{{if .B}}<img src="{{.B}}" alt="">{{end}}</td></tr>{{end}}
<tr><td></td>
<td><form method="post" action="/api/pick"><input type="hidden" name="token" value="{{.Token}}"><input type="hidden" name="winner" value="{{.A.Number}}"><input type="hidden" name="loser" value="{{.B.Number}}"><button>trial {{.A.Number}} is better</button></form></td>
<td><form method="post" action="/api/pick"><input type="hidden" name="token" value="{{.Token}}"><input type="hidden" name="winner" value="{{.B.Number}}"><input type="hidden" name="loser" value="{{.A.Number}}"><button>trial {{.B.Number}} is better</button></form></td></tr>
</table>{{else}}<p>Two trials with a value are needed for a comparison.</p>{{end}}
</body></html>`))

type comparePair struct {
	Prompt string
	A, B   string
}

// comparePage shows two trials side by side: ?a=N&b=M, or else the pair of
// the best trials that has been compared least.
func (s *Server) comparePage(w http.ResponseWriter, r *http.Request) {
	d, trials, err := s.ratable(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	byNum := map[int]*Trial{}
	for _, t := range trials {
		byNum[t.Number] = t
	}
	var a, b *Trial
	if qa, qb := r.URL.Query().Get("a"), r.URL.Query().Get("b"); qa != "" || qb != "" {
		na, err1 := strconv.Atoi(qa)
		nb, err2 := strconv.Atoi(qb)
		a, b = byNum[na], byNum[nb]
		if err1 != nil || err2 != nil || a == nil || b == nil || na == nb {
			http.Error(w, "a and b must be two different trials with a value", http.StatusBadRequest)
			return
		}
	} else if len(trials) >= 2 {
		ratings, err := LoadRatings(r.Context(), s.store, s.studyID)
		if err != nil {
			s.fail(w, err)
			return
		}
		a, b = leastCompared(trials, ratings)
	}
	data := map[string]any{"Sweep": d.Sweep, "Token": s.opts.Token}
	if a != nil && b != nil {
		data["A"], data["B"] = a, b
		data["Pairs"] = pairSamples(bestSamples(a), bestSamples(b))
	}
	s.render(w, comparePageTmpl, data)
}

// leastCompared picks, among the best few trials (ranked order), the pair
// with the fewest picks between them; ties go to the better-ranked pair.
func leastCompared(trials []*Trial, ratings Ratings) (*Trial, *Trial) {
	const pool = 8
	if len(trials) > pool {
		trials = trials[:pool]
	}
	games := func(x, y int) int {
		n := 0
		for _, v := range ratings[x] {
			if v.Stars == 0 && v.Opponent == y {
				n++
			}
		}
		return n
	}
	var a, b *Trial
	best := -1
	for i := 0; i < len(trials); i++ {
		for j := i + 1; j < len(trials); j++ {
			if g := games(trials[i].Number, trials[j].Number); best < 0 || g < best {
				a, b, best = trials[i], trials[j], g
			}
		}
	}
	return a, b
}

// pairSamples lines two trials' samples up by position (same prompts and
// seeds in the same order for every trial of a sweep).
func pairSamples(a, b []imageView) []comparePair {
	n := max(len(a), len(b))
	out := make([]comparePair, n)
	for i := 0; i < n; i++ {
		if i < len(a) {
			out[i].A, out[i].Prompt = a[i].URL, a[i].Prompt
		}
		if i < len(b) {
			out[i].B = b[i].URL
			if out[i].Prompt == "" {
				out[i].Prompt = b[i].Prompt
			}
		}
	}
	return out
}

func (s *Server) render(w http.ResponseWriter, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		s.fail(w, fmt.Errorf("render %s: %w", t.Name(), err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// Serve runs the server on ln until ctx is done, then shuts it down.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down server: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
