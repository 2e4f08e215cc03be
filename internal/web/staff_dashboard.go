package web

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/i18n"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// dashboardYears is how many years back the year picker offers; older years
// can still be asked for with ?year=.
const dashboardYears = 8

// firstDashboardYear is the earliest year the dashboard answers for.
const firstDashboardYear = 2000

// dashboardView is what the dashboard shows.
type dashboardView struct {
	Open, Overdue, DueSoon string // figures of now, grouped as the language writes them
	Period                 string // "April 2025 – March 2026"
	Total                  answeredView
	Months                 []monthView
	Types                  []typeAnsweredView
	Chart                  chartView
	Year                   int
	Years                  []queueOption
	YearTypes              []yearView
	YearTotal              yearView
}

type answeredView struct {
	Count, OnTime, Rate, Median string // Rate and Median are "—" without answers
}

type monthView struct {
	Label    string // "март 2026"
	Received string
	Answered answeredView
}

type typeAnsweredView struct {
	Type     string
	Answered answeredView
}

type yearView struct {
	Type                                     string
	Received, Completed, Rejected, Withdrawn string
	Answered                                 answeredView
}

// chartView is the bar chart of requests received per month, drawn in SVG
// on the server: no script, and the same figures are in the table below it.
type chartView struct {
	Width, Height int
	Baseline      int // y of the x axis
	Left, Right   int // x of the plot's edges
	AxisX         int // x where the scale's labels end
	Grid          []chartLine
	Bars          []chartBar
}

type chartLine struct {
	Y     int
	Label string
}

type chartBar struct {
	X, Y, W, H     int
	Mid            int    // x of the bar's centre, for its labels
	Value          string // shown above the bar
	Month, Year    string // under the bar; Year only under January and the first bar
	Title          string // the bar's tooltip: "март 2026: 12"
	ValueY, LabelY int
	YearY          int
}

func (s *Server) staffDashboard(c echo.Context) error {
	ctx := c.Request().Context()
	p := s.catalog.Printer(localeOf(c))
	loc := s.cfg.Location
	now := s.clock.Now()
	current := now.In(loc).Year()
	year := current
	if y := c.QueryParam("year"); y != "" {
		n, err := strconv.Atoi(y)
		if err != nil || n < firstDashboardYear || n > current {
			return echo.NewHTTPError(http.StatusBadRequest, "year")
		}
		year = n
	}

	counts, err := s.home.QueueCounts(ctx, store.QueueFilter{Now: now, StaffID: staffOf(c).ID})
	if err != nil {
		return err
	}
	d, err := s.home.Dashboard(ctx, now, loc, year)
	if err != nil {
		return err
	}

	l := p.Locale()
	v := dashboardView{
		Open: groupDigits(l, counts[store.TabOpen]), Overdue: groupDigits(l, counts[store.TabOverdue]),
		DueSoon: groupDigits(l, counts[store.TabDueSoon]),
		Total:   answered(p, d.Total),
		Year:    year, YearTotal: yearFigures(p, d.YearTotal),
	}
	if len(d.Months) > 0 {
		v.Period = p.T("staff.dashboard.period", "From", monthName(p, d.Months[0].Month), "To", monthName(p, d.Months[len(d.Months)-1].Month))
	}
	for _, m := range d.Months {
		v.Months = append(v.Months, monthView{Label: monthName(p, m.Month), Received: groupDigits(l, m.Received), Answered: answered(p, m.Answered)})
	}
	for _, t := range d.ByType {
		v.Types = append(v.Types, typeAnsweredView{Type: p.T("type." + string(t.Type) + ".name"), Answered: answered(p, t.Answered)})
	}
	for _, y := range d.YearTypes {
		yv := yearFigures(p, y)
		yv.Type = p.T("type." + string(y.Type) + ".name")
		v.YearTypes = append(v.YearTypes, yv)
	}
	for y := current; y > current-dashboardYears && y >= firstDashboardYear; y-- {
		v.Years = append(v.Years, queueOption{Value: strconv.Itoa(y), Label: strconv.Itoa(y), Selected: y == year})
	}
	if year <= current-dashboardYears {
		v.Years = append(v.Years, queueOption{Value: strconv.Itoa(year), Label: strconv.Itoa(year), Selected: true})
	}
	v.Chart = receivedChart(p, d.Months)
	return s.renderStaff(c, http.StatusOK, "dashboard", p.T("staff.dashboard.title"), v)
}

func answered(p *i18n.Printer, a store.Answered) answeredView {
	v := answeredView{Count: groupDigits(p.Locale(), a.Count), OnTime: groupDigits(p.Locale(), a.OnTime), Rate: "—", Median: "—"}
	if a.Count > 0 {
		v.Rate = p.T("staff.dashboard.percent", "N", strconv.Itoa(int(math.Round(a.OnTimeRate()*100))))
		v.Median = decimal(p.Locale(), a.MedianDays)
	}
	return v
}

func yearFigures(p *i18n.Printer, y store.YearFigures) yearView {
	l := p.Locale()
	return yearView{
		Received: groupDigits(l, y.Received), Completed: groupDigits(l, y.Completed),
		Rejected: groupDigits(l, y.Rejected), Withdrawn: groupDigits(l, y.Withdrawn),
		Answered: answered(p, y.Answered),
	}
}

// decimal writes a number of days with at most one decimal, with the
// language's decimal sign: "5,5" in Russian and Kazakh, "5.5" in English.
func decimal(l request.Locale, f float64) string {
	s := strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
	if l != request.English {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

// monthName is a month and its year in the nominative: "март 2026".
func monthName(p *i18n.Printer, m time.Time) string {
	return p.T("staff.dashboard.month_year", "Month", p.T(fmt.Sprintf("staff.month.%d", int(m.Month()))), "Year", m.Year())
}

// shortMonth is the first three letters of a month's name: "мар", "нау", "Mar".
func shortMonth(p *i18n.Printer, m time.Month) string {
	name := []rune(p.T(fmt.Sprintf("staff.month.%d", int(m))))
	return string(name[:min(3, len(name))])
}

// receivedChart lays out the bars of requests received per month.
func receivedChart(p *i18n.Printer, months []store.DashboardMonth) chartView {
	const (
		width, height = 720, 260
		left, right   = 48, 12
		top, bottom   = 24, 44
	)
	ch := chartView{Width: width, Height: height, Baseline: height - bottom, Left: left, Right: width - right, AxisX: left - 6}
	peak := 0
	for _, m := range months {
		peak = max(peak, m.Received)
	}
	scale := niceCeiling(peak)
	plot := ch.Baseline - top
	last := -1
	for _, g := range []int{0, scale / 2, scale} {
		if g <= last {
			continue // a scale of 0 or 1 has no middle line
		}
		last = g
		ch.Grid = append(ch.Grid, chartLine{Y: ch.Baseline - g*plot/max(scale, 1), Label: groupDigits(p.Locale(), g)})
	}
	if len(months) == 0 {
		return ch
	}
	slot := (ch.Right - left) / len(months)
	barW := slot * 7 / 10
	for i, m := range months {
		h := 0
		if scale > 0 {
			h = m.Received * plot / scale
		}
		x := left + i*slot + (slot-barW)/2
		b := chartBar{
			X: x, Y: ch.Baseline - h, W: barW, H: h, Mid: x + barW/2,
			Value: groupDigits(p.Locale(), m.Received),
			Month: shortMonth(p, m.Month.Month()),
			Title: p.T("staff.dashboard.chart.bar", "Month", monthName(p, m.Month), "N", groupDigits(p.Locale(), m.Received)),
		}
		b.ValueY = b.Y - 6
		b.LabelY = ch.Baseline + 18
		b.YearY = b.LabelY + 16
		if i == 0 || m.Month.Month() == time.January {
			b.Year = strconv.Itoa(m.Month.Year())
		}
		ch.Bars = append(ch.Bars, b)
	}
	return ch
}

// niceCeiling rounds n up to 1, 2 or 5 times a power of ten, so that the
// chart's scale has round figures; 0 stays 0.
func niceCeiling(n int) int {
	if n <= 0 {
		return 0
	}
	for pow := 1; ; pow *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*pow >= n {
				return m * pow
			}
		}
	}
}
