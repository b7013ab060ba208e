package reports

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"image"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"golang.org/x/image/draw"
)

// thumbnailer makes embedded thumbnails for one report. It remembers the
// images it already encoded (the grid and the epoch view share many) only
// for its own lifetime: nothing is cached across reports.
type thumbnailer struct {
	px      int
	done    map[string]template.URL
	missing map[string]bool
}

func newThumbnailer(px int) *thumbnailer {
	return &thumbnailer{px: px, done: map[string]template.URL{}, missing: map[string]bool{}}
}

// thumb returns a data: URL of the image at path scaled to fit px×px, or ""
// when the file cannot be read or decoded (the report lists it).
func (t *thumbnailer) thumb(path string) template.URL {
	if u, ok := t.done[path]; ok {
		return u
	}
	u, err := thumbnail(path, t.px)
	if err != nil {
		t.missing[path] = true
	}
	t.done[path] = u
	return u
}

// prefetch encodes the thumbnails of paths on all CPUs; thumb then finds
// them done. Results do not depend on the order the workers finish in.
func (t *thumbnailer) prefetch(paths []string) {
	var todo []string
	seen := map[string]bool{}
	for _, p := range paths {
		if _, ok := t.done[p]; !ok && !seen[p] {
			seen[p] = true
			todo = append(todo, p)
		}
	}
	out := make([]template.URL, len(todo))
	errs := make([]bool, len(todo))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(todo)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				u, err := thumbnail(todo[i], t.px)
				out[i], errs[i] = u, err != nil
			}
		}()
	}
	for i := range todo {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, p := range todo {
		t.done[p] = out[i]
		if errs[i] {
			t.missing[p] = true
		}
	}
}

// thumbnail decodes a PNG, scales it down to fit px×px (never up) and
// returns it re-encoded as a base64 PNG data URL.
func thumbnail(path string, px int) (template.URL, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open sample: %w", err)
	}
	defer f.Close()
	src, err := png.Decode(f)
	if err != nil {
		return "", fmt.Errorf("decode sample %s: %w", path, err)
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if w > px || h > px {
		if w >= h {
			h, w = max(1, h*px/w), px
		} else {
			w, h = max(1, w*px/h), px
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	// BiLinear is a true (area-aware) kernel, so a 4× shrink does not alias,
	// at a third of CatmullRom's cost.
	draw.BiLinear.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.DefaultCompression}
	if err := enc.Encode(&buf, dst); err != nil {
		return "", fmt.Errorf("encode thumbnail: %w", err)
	}
	// Typed as a URL: the bytes are our own encoding, not user text.
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}

// fileLink returns the href of a full-size file: relative to base (the
// report's folder) when it can be, so the report and the runs folder move
// together; otherwise a file:// URL of the absolute path.
func fileLink(base, path string) string {
	if base != "" && filepath.IsAbs(path) {
		if rel, err := filepath.Rel(base, path); err == nil {
			return (&url.URL{Path: filepath.ToSlash(rel)}).String()
		}
	}
	if filepath.IsAbs(path) {
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
	}
	return (&url.URL{Path: filepath.ToSlash(path)}).String()
}
