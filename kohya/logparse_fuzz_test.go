package kohya

import (
	"bufio"
	"bytes"
	"math"
	"testing"
	"time"
)

// FuzzLogParser feeds arbitrary trainer output through the same scanner and
// parser the runner uses. A trainer may print anything (binary garbage,
// enormous lines, stray \r): the parser must never panic, never hand out a
// line longer than MaxLogLine, never report a negative step, and stay fast.
// Seeds: testdata/fuzz/FuzzLogParser (built from testdata/logs).
func FuzzLogParser(f *testing.F) {
	f.Add([]byte("epoch 1/2\nsteps:  50%|█████     | 1/2 [00:01<00:01,  1.00it/s, avr_loss=0.1]\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 4096), MaxLogLine+1)
		sc.Split(ScanLogLines)
		var p LogParser
		lines := 0
		for sc.Scan() {
			line := sc.Text()
			if len(line) > MaxLogLine {
				t.Fatalf("line of %d bytes exceeds MaxLogLine", len(line))
			}
			lines++
			for _, ev := range p.Feed(line) {
				if ev.Step < 0 || ev.Total < 0 || ev.Epoch < 0 {
					t.Fatalf("negative counter in %+v from %q", ev, line)
				}
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("scanner stopped on %d bytes of input: %v", len(data), err)
		}
		s := p.Summary()
		if s.LastLoss != nil && math.IsInf(*s.LastLoss, 0) && !bytes.Contains(bytes.ToLower(data), []byte("inf")) {
			t.Fatalf("infinite loss %v from input without inf", *s.LastLoss)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%d bytes (%d lines) took %v", len(data), lines, d)
		}
	})
}
