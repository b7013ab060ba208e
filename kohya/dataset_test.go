package kohya

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestScanDreamBoothDir(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"10_sks dog/a.png":     "",
		"10_sks dog/a.caption": "sks dog, on grass\nsecond line ignored\n",
		"10_sks dog/b.JPG":     "",
		"10_sks dog/notes.txt": "",
		"5_my_cat/c.webp":      "",
		"x_bad/d.png":          "",
		"0_zero/e.png":         "",
		"loose.png":            "",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	subsets, warns, err := ScanDreamBoothDir(root, true, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []Subset{
		{Dir: filepath.Join(root, "10_sks dog"), Repeats: 10, ClassTokens: "sks dog", IsReg: true,
			Images: []string{filepath.Join(root, "10_sks dog", "a.png"), filepath.Join(root, "10_sks dog", "b.JPG")}},
		{Dir: filepath.Join(root, "5_my_cat"), Repeats: 5, ClassTokens: "my_cat", IsReg: true,
			Images: []string{filepath.Join(root, "5_my_cat", "c.webp")}},
	}
	if !reflect.DeepEqual(subsets, want) {
		t.Errorf("subsets\n got %+v\nwant %+v", subsets, want)
	}
	if len(warns) != 2 {
		t.Errorf("warnings %q, want 2 (x_bad, 0_zero)", warns)
	}
	if _, _, err := ScanDreamBoothDir(filepath.Join(root, "missing"), false, ""); err == nil {
		t.Error("missing dir: no error")
	}

	captions := []struct {
		name, image, ext, class, want string
	}{
		{"caption file first line", filepath.Join(root, "10_sks dog", "a.png"), "", "sks dog", "sks dog, on grass"},
		{"falls back to class tokens", filepath.Join(root, "10_sks dog", "b.JPG"), ".caption", "sks dog", "sks dog"},
		{"other extension", filepath.Join(root, "10_sks dog", "notes.png"), ".txt", "", ""},
	}
	for _, tc := range captions {
		t.Run(tc.name, func(t *testing.T) {
			if got := ReadCaption(tc.image, tc.ext, tc.class); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
