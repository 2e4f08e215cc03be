// Package web holds what the binary serves and sends: page and email
// templates, static assets and the translation catalogs, all embedded.
package web

import "embed"

// Files holds templates/ (layouts, pages, partials, email) and static/.
//
//go:embed templates static
var Files embed.FS

// Locales holds the go-i18n TOML catalogs: locales/<language>/<part>.toml,
// one part per surface (public, staff, ...), so each can grow on its own.
//
//go:embed locales
var Locales embed.FS
