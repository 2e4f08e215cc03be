// Package web holds what the binary serves and sends: page and email
// templates, static assets and the translation catalogs, all embedded.
package web

import "embed"

// Files holds templates/ (layouts, pages, partials, email) and static/.
//
//go:embed templates static
var Files embed.FS

// Locales holds one go-i18n TOML catalog per language.
//
//go:embed locales/*.toml
var Locales embed.FS
