// Package web holds what the binary serves and sends: page and email
// templates, static assets and the translation catalogs, all embedded.
package web

import (
	"embed"
	"fmt"
	"io/fs"

	"rightsdesk/internal/i18n"
)

// Files holds templates/ (layouts, pages, partials, email) and static/.
//
//go:embed templates static
var Files embed.FS

// Locales holds the go-i18n TOML catalogs: locales/<language>/<part>.toml,
// one part per surface (public, staff, ...), so each can grow on its own.
//
//go:embed locales
var Locales embed.FS

// Catalog loads the translation catalogs of Locales.
func Catalog() (*i18n.Catalog, error) {
	sub, err := fs.Sub(Locales, "locales")
	if err != nil {
		return nil, fmt.Errorf("locales: %w", err)
	}
	return i18n.Load(sub)
}
