// Package spreadsheet holds the one rule for CSV files people open in a
// spreadsheet: a cell must never be read as a formula.
package spreadsheet

// Cell makes a value safe to open in Excel, LibreOffice or Google Sheets: a
// cell starting with =, +, -, @, a tab or a carriage return would be taken
// for a formula (CSV injection), so it gets a leading apostrophe, which
// spreadsheets show as text and do not display.
func Cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
