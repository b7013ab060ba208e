package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lorasweep/lorasweep/storage"
)

// TestOptunaOverheadPrefill runs the Optuna side of the overhead study at a
// small size: the bulk-inserted trials must read back through Optuna as N
// complete trials with the ten params (the script checks that and exits
// non-zero otherwise), and the timed trials must have run.
func TestOptunaOverheadPrefill(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import optuna").Run(); err != nil {
		t.Skip("optuna not installed for /usr/bin/python3 (apt-get install python3-optuna)")
	}
	cases := []struct {
		name string
		n    string
	}{
		{"fifty trials", "50"},
		{"one trial (only the add_trial template)", "1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "o.db")
			out, err := exec.Command(py, filepath.Join("python", "optuna_bench.py"), "overhead",
				"--storage", "sqlite:///"+db, "--n", c.n, "--measure", "2").Output()
			if err != nil {
				t.Fatalf("optuna_bench overhead: %v", err)
			}
			var res struct {
				N      int     `json:"n"`
				Median float64 `json:"ms_per_trial_median"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("decode %q: %v", out, err)
			}
			if strconv.Itoa(res.N) != c.n || res.Median <= 0 {
				t.Errorf("result %+v", res)
			}
		})
	}
}

// TestScratchSchemaLeavesNothing needs LORASWEEP_TEST_POSTGRES: a store
// opened on the scratch DSN writes into the schema, and drop removes it.
func TestScratchSchemaLeavesNothing(t *testing.T) {
	base := os.Getenv("LORASWEEP_TEST_POSTGRES")
	if base == "" {
		t.Skip("set LORASWEEP_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	ctx := context.Background()
	dsn, drop, err := storage.ScratchSchema(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	schema := dsn[strings.LastIndex(dsn, "search_path=")+len("search_path="):]
	store, err := storage.Open(ctx, dsn)
	if err != nil {
		drop()
		t.Fatal(err)
	}
	if _, err := store.CreateNewStudy("scratch"); err != nil {
		t.Error(err)
	}
	store.Close()
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	count := func() int {
		var n int
		if err := admin.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = $1`, schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count() == 0 {
		t.Fatalf("no tables in scratch schema %s: the store wrote elsewhere", schema)
	}
	if err := drop(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("%d tables left in %s after drop", n, schema)
	}
}
