package reports

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/lorasweep/lorasweep/sweep"
)

// Ratings from serve get their own ranked view in the report: by the human
// rating, not by value, and the main ranking is left as it was.
func TestReportRatingsView(t *testing.T) {
	dir := t.TempDir()
	store, id := buildFixture(t, dir)
	ctx := context.Background()
	trials, err := store.GetAllTrials(id)
	if err != nil {
		t.Fatal(err)
	}
	idOf := map[int]int{}
	for _, tr := range trials {
		idOf[tr.Number] = tr.ID
	}
	// Trial 3 gets five stars and wins a pick against trial 1; trial 1 gets one star.
	for _, r := range []sweep.Rating{
		{TrialID: idOf[3], Stars: 5, Rater: "me"},
		{TrialID: idOf[1], Stars: 1, Rater: "me"},
		{TrialID: idOf[3], Other: ptr(idOf[1]), Rater: "me"},
	} {
		if _, err := store.AddRating(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Load(ctx, store, id)
	if err != nil {
		t.Fatal(err)
	}
	before := d.Trials[0].Number
	var buf bytes.Buffer
	if err := WriteHTML(&buf, d, Options{BaseDir: dir}); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	i := strings.Index(html, `<table id="rated">`)
	if i < 0 {
		t.Fatal("no ratings table in the report")
	}
	table := html[i : i+strings.Index(html[i:], "</table>")]
	rows := regexp.MustCompile(`<tr><td class="num">(\d+)</td><td class="num">(\d+)</td>`).FindAllStringSubmatch(table, -1)
	if len(rows) != 2 || rows[0][2] != "3" || rows[1][2] != "1" {
		t.Errorf("ratings view rows %v, want trial 3 then trial 1", rows)
	}
	if !strings.Contains(table, "5.0 (1)") || !strings.Contains(table, "1 of 1") {
		t.Errorf("stars or picks missing from the view:\n%s", table)
	}
	if d.Trials[0].Number != before {
		t.Error("the main ranking changed with ratings")
	}
}

func ptr(n int) *int { return &n }
