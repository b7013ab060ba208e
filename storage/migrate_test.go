package storage

import (
	"errors"
	"testing"
)

// Migration numbers may have gaps, and one merged after a later number
// still runs; a version this binary does not know is a newer schema.
func TestPendingMigrations(t *testing.T) {
	ms := []migration{{version: 1, name: "0001_a.sql"}, {version: 2, name: "0002_b.sql"}, {version: 3, name: "0003_c.sql"}}
	names := func(ms []migration) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.name)
		}
		return out
	}
	for _, tc := range []struct {
		applied []int
		want    []string
	}{
		{nil, []string{"0001_a.sql", "0002_b.sql", "0003_c.sql"}},
		{[]int{1, 3}, []string{"0002_b.sql"}},
		{[]int{1}, []string{"0002_b.sql", "0003_c.sql"}},
		{[]int{1, 2, 3}, nil},
	} {
		got, err := pending(ms, tc.applied)
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("applied %v: pending %v (%v), want %v", tc.applied, names(got), err, tc.want)
			continue
		}
		for i := range got {
			if got[i].name != tc.want[i] {
				t.Errorf("applied %v: pending %v, want %v", tc.applied, names(got), tc.want)
			}
		}
	}
	if _, err := pending(ms, []int{1, 7}); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("unknown version 7: %v, want ErrSchemaTooNew", err)
	}
	embedded, err := loadMigrations(DriverSQLite)
	if err != nil || len(embedded) == 0 || embedded[0].version != 1 {
		t.Fatalf("embedded migrations: %v %v", names(embedded), err)
	}
}
