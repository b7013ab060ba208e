package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// EnvLeaseDir overrides the folder of host-wide GPU lease files.
const EnvLeaseDir = "LORASWEEP_LEASE_DIR"

// DefaultLeaseDir is the folder every lorasweep process of this user on
// this host shares for GPU lease files: $LORASWEEP_LEASE_DIR, else
// $XDG_RUNTIME_DIR/lorasweep-leases, else lorasweep-leases-UID in the
// temporary folder.
func DefaultLeaseDir() string {
	if d := os.Getenv(EnvLeaseDir); d != "" {
		return d
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "lorasweep-leases")
	}
	return filepath.Join(os.TempDir(), "lorasweep-leases-"+strconv.Itoa(os.Getuid()))
}

// lockHost takes, for each card of slot i, one of its per_gpu host-wide
// lease files with a non-blocking flock. ok is false when a card is fully
// held by other processes (another lorasweep run or worker on this host):
// the slot is busy. The kernel drops a flock when its last holder exits, so
// the lease of a killed lorasweep frees itself; the files are handed to the
// trainer's supervisor (Lease.HostFiles) so the card stays leased until the
// trainer itself is gone.
func (p *Pool) lockHost(i int) (files []*os.File, ok bool, err error) {
	si := p.slots[i]
	perGPU := max(p.cfg.GPUs.PerGPU, 1)
	if err := os.MkdirAll(p.cfg.LeaseDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create lease folder: %w", err)
	}
	release := func() {
		for _, f := range files {
			f.Close()
		}
	}
	for c, idx := range si.GPUs {
		key := "index" + idx
		if c < len(si.UUIDs) && si.UUIDs[c] != "" {
			key = si.UUIDs[c]
		}
		f, err := lockOneOf(p.cfg.LeaseDir, sanitizeKey(key), perGPU)
		if err != nil {
			release()
			return nil, false, err
		}
		if f == nil {
			release()
			return nil, false, nil
		}
		files = append(files, f)
	}
	return files, true, nil
}

// lockOneOf flocks the first free of the n lease files of a card; nil when
// all are held.
func lockOneOf(dir, key string, n int) (*os.File, error) {
	for k := 0; k < n; k++ {
		path := filepath.Join(dir, fmt.Sprintf("gpu-%s-%d.lock", key, k))
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open GPU lease %s: %w", path, err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			continue
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock GPU lease %s: %w", path, err)
		}
		// For people looking at the folder: who holds it.
		_ = f.Truncate(0)
		_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d\n", os.Getpid())), 0)
		return f, nil
	}
	return nil, nil
}

// sanitizeKey keeps a GPU's UUID or index usable as a file name.
func sanitizeKey(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return '_'
	}, s)
}
