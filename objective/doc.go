// Package objective scores the sample images (and loss curves) a trial
// writes, per saved epoch: built-in scorers (reference similarity,
// preservation, health, diversity, loss, validation loss), an external scorer
// process over a JSON protocol, human ratings, and their weighted
// combination into one value with its components.
//
// It knows nothing of studies, Goptuna, SQL or how trainers are launched.
package objective
