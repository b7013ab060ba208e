package objective

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Reference modes.
const (
	ModePaired = "paired"
	ModeSet    = "set"
)

// refImage is one image of a reference folder. Index is the prompt index it
// pairs with, -1 when its name gives none.
type refImage struct {
	Path  string
	Index int
}

// refIndexRe reads a prompt index from a reference file's stem or folder:
// "3", "003", "p3", "prompt_03", "prompt-3_cat", "03_cat" all mean prompt 3.
var refIndexRe = regexp.MustCompile(`^(?i:prompt[_-]?|p)?0*([0-9]+)(?:[_\-. ].*)?$`)

func isImageName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg", ".webp":
		return true
	}
	return false
}

// listReferences lists the images under dir (recursively, sorted). An image
// pairs with prompt N when its stem reads as N, or, failing that, when its
// immediate folder's name does (references/3/a.png).
func listReferences(dir string) ([]refImage, error) {
	var refs []refImage
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !isImageName(d.Name()) {
			return nil
		}
		idx := parseRefIndex(strings.TrimSuffix(d.Name(), filepath.Ext(d.Name())))
		if idx < 0 && filepath.Dir(path) != filepath.Clean(dir) {
			idx = parseRefIndex(filepath.Base(filepath.Dir(path)))
		}
		refs = append(refs, refImage{Path: path, Index: idx})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list references %s: %w", dir, err)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Path < refs[j].Path })
	return refs, nil
}

func parseRefIndex(stem string) int {
	m := refIndexRe.FindStringSubmatch(stem)
	if m == nil {
		return -1
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return -1
	}
	return n
}

// refCache loads a reference folder's images and features once, on first
// use, so New stays cheap for `validate`.
type refCache struct {
	dir  string
	once sync.Once
	refs []refImage
	feat []*features
	err  error
}

func (c *refCache) load(ctx context.Context) ([]refImage, []*features, error) {
	c.once.Do(func() {
		c.refs, c.err = listReferences(c.dir)
		if c.err != nil {
			return
		}
		if len(c.refs) == 0 {
			c.err = fmt.Errorf("load references: no PNG, JPEG or WebP images in %s", c.dir)
			return
		}
		paths := make([]string, len(c.refs))
		for i, r := range c.refs {
			paths[i] = r.Path
		}
		c.feat, c.err = loadAll(ctx, paths)
		if c.err != nil {
			c.err = fmt.Errorf("load references: %w", c.err)
		}
	})
	return c.refs, c.feat, c.err
}

// scoreReference scores each sample against its references: in paired mode
// the best match among the references of its prompt index (samples of
// prompts without references are skipped), in set mode the best match in the
// whole folder. The value is the mean over scored samples, in 0..1.
func scoreReference(mode string, samples []Sample, feats []*features, refs []refImage, refFeat []*features) (float64, []ImageScore, error) {
	var imgs []ImageScore
	var sum float64
	for i, s := range samples {
		best := -1.0
		bestPath := ""
		for j, r := range refs {
			if mode != ModeSet && r.Index != s.PromptIndex {
				continue
			}
			if v := similarity(feats[i], refFeat[j]); v > best {
				best, bestPath = v, r.Path
			}
		}
		if best < 0 {
			continue
		}
		imgs = append(imgs, ImageScore{Path: s.Path, Score: best, Flags: []string{"ref=" + filepath.Base(bestPath)}})
		sum += best
	}
	if len(imgs) == 0 {
		return 0, nil, fmt.Errorf("no sample of this epoch has a reference image (references are paired to prompts by index, e.g. 0003.png for prompt 3)")
	}
	return sum / float64(len(imgs)), imgs, nil
}
