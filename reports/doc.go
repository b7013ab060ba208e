// Package reports turns a stored sweep into what people read in the
// morning: one self-contained HTML file (ranking, sample grid, charts drawn
// with gonum/plot as inline SVG, parameter importance, loss and LR curves,
// GPU timeline, failures) and the exports of a trial's config.
//
// It reads a sweep only through the small Store interface it declares (the
// storage package satisfies it) and the record types of package sweep. It
// must not know SQL, how trials are proposed, trained or scored, and it
// never writes to the store. gonum/plot is used here and nowhere else.
//
// Decisions written down once:
//
//   - Output is deterministic for the same data: no clock is read (the
//     "generated" line comes from Options.Now), every list has a stable order,
//     and gonum/plot's SVG output depends only on the data drawn.
//   - Parameter importance is PED-ANOVA (Watanabe et al., 2023): the Pearson
//     divergence between a parameter's distribution among the top quantile of
//     trials and among all trials with a value, from 1-D Parzen estimates.
//     It needs no model fit, so it stays fast at thousands of trials.
//   - The file stays small at any size: thumbnails only for the trials of the
//     sample grid (top N, the baseline and the ones asked for); dense charts
//     draw at most a fixed number of points (the best ones always, the rest
//     evenly thinned) and say how many they show.
package reports
