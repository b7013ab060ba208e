//go:build tools

package tools

import (
	_ "github.com/c-bata/goptuna"
	_ "github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	_ "github.com/pelletier/go-toml/v2"
	_ "github.com/spf13/cobra"
	_ "go.yaml.in/yaml/v3"
	_ "gonum.org/v1/gonum/stat"
	_ "gonum.org/v1/plot"
	_ "golang.org/x/image/draw"
	_ "modernc.org/sqlite"
)
