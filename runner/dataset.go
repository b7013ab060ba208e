package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/lorasweep/lorasweep/kohya"
)

// Shared latent and text-encoder caches (KOHYA.md §l).
//
// With cache_latents_to_disk (or SDXL's cache_text_encoder_outputs_to_disk)
// sd-scripts writes <image stem>.npz next to each training image and
// recomputes and overwrites it when its size does not match the trial's
// bucket resolution. Trials sharing a folder would write the same files at
// once, and trials at different resolutions would rewrite each other's
// caches for the whole night. The runner does both things the issue allows,
// each where it is cheap:
//
//   - one view per (dataset, resolution and bucket settings): a directory
//     under PoolConfig.CacheDir mirroring train_data_dir (and reg_data_dir)
//     with a symlink per image and caption, into which sd-scripts writes the
//     caches (it derives the cache path from the image path it globbed, the
//     symlink's). Trials at other resolutions get other views, so no cache
//     is ever invalidated by another trial; the user's folder is never
//     written to.
//   - the cache of a view is warmed once: the first trial on a view holds it
//     until its training loop starts (its first progress line — sd-scripts
//     caches everything before training), and other trials on the same view
//     wait for that, then find every cache file present and only read them.
//     If the warming trial dies before training, the next one warms.
//
// A view costs one symlink per file; caching costs one VAE pass per
// (dataset, resolution) instead of one per trial. --dataset_config datasets
// are left as they are (their folders are named inside the dataset TOML);
// run such sweeps with parallel 1 or without disk caching.
type datasetView struct {
	dir   string
	once  sync.Once
	err   error
	mu    sync.Mutex
	warm  bool
	token chan struct{} // held by the trial warming the cache
}

// viewKeys are the settings that decide a cache file's contents.
var viewKeys = []string{"resolution", "enable_bucket", "min_bucket_reso", "max_bucket_reso", "bucket_reso_steps", "bucket_no_upscale", "flip_aug", "sdxl", "cache_text_encoder_outputs_to_disk", "caption_extension"}

func cachesToDisk(cfg kohya.Config) bool {
	a, _ := cfg["cache_latents_to_disk"].(bool)
	b, _ := cfg["cache_text_encoder_outputs_to_disk"].(bool)
	return a || b
}

// applyDatasetView points cfg's dataset folders at their view and sets the
// warm-up hooks on pr. It does nothing without a CacheDir or disk caching.
func (p *Pool) applyDatasetView(ctx context.Context, cfg kohya.Config, pr *prepared) error {
	if p.cfg.CacheDir == "" || !cachesToDisk(cfg) {
		return nil
	}
	if _, ok := cfg["dataset_config"]; ok {
		return nil
	}
	var settings strings.Builder
	for _, k := range viewKeys {
		fmt.Fprintf(&settings, "%s=%v;", k, cfg[k])
	}
	var views []*datasetView
	for _, key := range []string{"train_data_dir", "reg_data_dir"} {
		src, ok := cfg[key].(string)
		if !ok || src == "" {
			continue
		}
		abs, err := filepath.Abs(src)
		if err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(abs + "\x00" + settings.String()))
		dir := filepath.Join(p.cfg.CacheDir, filepath.Base(abs)+"-"+hex.EncodeToString(sum[:6]))
		p.viewMu.Lock()
		v := p.views[dir]
		if v == nil {
			v = &datasetView{dir: dir, token: make(chan struct{}, 1)}
			v.token <- struct{}{}
			p.views[dir] = v
		}
		p.viewMu.Unlock()
		v.once.Do(func() { v.err = buildView(abs, dir) })
		if v.err != nil {
			return v.err
		}
		cfg[key] = dir
		views = append(views, v)
	}
	var release []func(bool)
	for _, v := range views {
		r, err := v.enter(ctx)
		if err != nil {
			for _, f := range release {
				f(false)
			}
			return err
		}
		if r != nil {
			release = append(release, r)
		}
	}
	if len(release) > 0 {
		pr.warmUntil = func(started bool) {
			for _, f := range release {
				f(started)
			}
		}
	}
	return nil
}

// enter returns when the view's cache is warm (nil) or when this trial is
// the one to warm it (a function to call once training started, or with
// false when the trial ended before that).
func (v *datasetView) enter(ctx context.Context) (func(bool), error) {
	v.mu.Lock()
	warm := v.warm
	v.mu.Unlock()
	if warm {
		return nil, nil
	}
	select {
	case <-v.token:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	v.mu.Lock()
	warm = v.warm
	v.mu.Unlock()
	if warm {
		v.token <- struct{}{}
		return nil, nil
	}
	var once sync.Once
	return func(started bool) {
		once.Do(func() {
			if started {
				v.mu.Lock()
				v.warm = true
				v.mu.Unlock()
			}
			v.token <- struct{}{}
		})
	}, nil
}

// buildView mirrors the immediate sub-directories of src (the N_class
// folders) into dir with one symlink per file; existing caches (.npz) of
// the source are not linked, they may be for another resolution.
func buildView(src, dir string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("read dataset %s: %w", src, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		files, err := os.ReadDir(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		for _, f := range files {
			if f.IsDir() || strings.HasSuffix(strings.ToLower(f.Name()), ".npz") {
				continue
			}
			link := filepath.Join(sub, f.Name())
			if _, err := os.Lstat(link); err == nil {
				continue // a view left by an earlier run of the sweep
			}
			if err := os.Symlink(filepath.Join(src, e.Name(), f.Name()), link); err != nil {
				return err
			}
		}
	}
	return nil
}
