package nvsmi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    []GPU
		wantErr bool
	}{
		{name: "two cards", in: "0, GPU-aaa, NVIDIA GeForce RTX 4090, 24564, 3\n1, GPU-bbb, NVIDIA A100-SXM4-80GB, 81920, 20000\n",
			want: []GPU{{0, "GPU-aaa", "NVIDIA GeForce RTX 4090", 24564, 3}, {1, "GPU-bbb", "NVIDIA A100-SXM4-80GB", 81920, 20000}}},
		{name: "not available memory", in: "0, GPU-aaa, Some MIG, [N/A], [N/A]\n", want: []GPU{{0, "GPU-aaa", "Some MIG", -1, -1}}},
		{name: "empty", in: "\n", want: nil},
		{name: "garbage", in: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n", wantErr: true},
		{name: "bad index", in: "x, GPU-aaa, n, 1, 1\n", wantErr: true},
		{name: "duplicate index", in: "0, GPU-a, n, 1, 1\n0, GPU-b, n, 1, 1\n", wantErr: true},
		{name: "bad memory", in: "0, GPU-a, n, lots, 1\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("gpu %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestQuery(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "nvidia-smi")
	script := "#!/bin/sh\n[ \"$1\" = --query-gpu=index,uuid,name,memory.total,memory.used ] || exit 9\necho '0, GPU-aaa, Fake GPU, 1000, 1'\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	gpus, err := Query(context.Background(), fake, nil)
	if err != nil || len(gpus) != 1 || gpus[0].UUID != "GPU-aaa" {
		t.Errorf("Query = %+v, %v", gpus, err)
	}
	_, err = Query(context.Background(), filepath.Join(dir, "missing"), nil)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("missing binary: err = %v, want ErrNotFound", err)
	}
}
