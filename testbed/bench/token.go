package bench

import (
	"errors"

	"github.com/skiff-sh/skiff/web/client"
)

// tokenFromConfig reads the admin token a `skiff server` process wrote
// into its client config.
func tokenFromConfig(path string) (string, error) {
	cfg, err := client.LoadConfig(path)
	if err != nil {
		return "", err
	}
	if cfg.Token == "" {
		return "", errors.New("the server's client config has no token")
	}
	return cfg.Token, nil
}
