package sampling

import "github.com/c-bata/goptuna"

// Short local names keep the type switches readable.
type (
	goptunaUniform     = goptuna.UniformDistribution
	goptunaLogUniform  = goptuna.LogUniformDistribution
	goptunaInt         = goptuna.IntUniformDistribution
	goptunaStepInt     = goptuna.StepIntUniformDistribution
	goptunaDiscrete    = goptuna.DiscreteUniformDistribution
	goptunaCategorical = goptuna.CategoricalDistribution
)
