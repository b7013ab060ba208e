package kohya

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Subset is one DreamBooth-style image folder "<repeats>_<class tokens>"
// under train_data_dir (or reg_data_dir when IsReg). Images are the folder's
// image files, sorted, as absolute or dir-joined paths.
type Subset struct {
	Dir         string
	Repeats     int
	ClassTokens string
	Images      []string
	IsReg       bool
}

// DefaultCaptionExtension is sd-scripts' --caption_extension default (the GUI
// passes .txt instead).
const DefaultCaptionExtension = ".caption"

// imageExts are train_util.IMAGE_EXTENSIONS (lower case; upper case too).
var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".webp": true, ".bmp": true}

// ScanDreamBoothDir lists the subsets of a train_data_dir / reg_data_dir as
// sd-scripts' generate_dreambooth_subsets_config_by_subdirs does: each
// immediate sub-directory named "<int>_<class tokens>" (split at the first
// '_'; the rest re-joined keeps its underscores) with repeats ≥ 1; other
// folders are skipped with a warning. Images directly in dir are ignored.
// captionExt is accepted for symmetry with ReadCaption; folders are scanned
// for images only. A missing dir is an error.
func ScanDreamBoothDir(dir string, isReg bool, captionExt string) ([]Subset, []string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("scan dataset dir: %w", err)
	}
	_ = captionExt
	var subsets []Subset
	var warnings []string
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		head, tail, _ := strings.Cut(name, "_")
		repeats, err := strconv.Atoi(head)
		if err != nil {
			warnings = append(warnings, "ignore directory without repeats / 繰り返し回数のないディレクトリを無視します: "+name)
			continue
		}
		if repeats < 1 {
			warnings = append(warnings, fmt.Sprintf("ignore directory with repeats < 1: %s", name))
			continue
		}
		sub := Subset{Dir: filepath.Join(dir, name), Repeats: repeats, ClassTokens: tail, IsReg: isReg}
		files, err := os.ReadDir(sub.Dir)
		if err != nil {
			return nil, warnings, fmt.Errorf("scan dataset dir: %w", err)
		}
		for _, f := range files {
			if f.IsDir() {
				continue
			}
			if imageExts[strings.ToLower(filepath.Ext(f.Name()))] {
				sub.Images = append(sub.Images, filepath.Join(sub.Dir, f.Name()))
			}
		}
		sort.Strings(sub.Images)
		subsets = append(subsets, sub)
	}
	return subsets, warnings, nil
}

// ReadCaption returns an image's caption as sd-scripts reads it: the first
// line (trimmed) of <image without extension><captionExt> (default
// .caption), else classTokens, else "".
func ReadCaption(image, captionExt, classTokens string) string {
	if captionExt == "" {
		captionExt = DefaultCaptionExtension
	}
	path := strings.TrimSuffix(image, filepath.Ext(image)) + captionExt
	data, err := os.ReadFile(path)
	if err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		if c := strings.TrimSpace(line); c != "" {
			return c
		}
	}
	return classTokens
}
