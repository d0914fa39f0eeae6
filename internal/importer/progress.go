package importer

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress is told about long work, phase by phase.
type Progress interface {
	// Start begins a phase of total items (0 when unknown).
	Start(phase string, total int)
	// Add counts n items of the current phase done.
	Add(n int)
	// Done ends the current phase.
	Done()
}

type noProgress struct{}

func (noProgress) Start(string, int) {}
func (noProgress) Add(int)           {}
func (noProgress) Done()             {}

// NewProgress reports to w: on a terminal a bar redrawn in place, else
// plain lines (the phase's start, every tenth of it, its end), which suit
// logs.
func NewProgress(w io.Writer, terminal bool) Progress {
	return &printer{w: w, tty: terminal, now: time.Now}
}

type printer struct {
	w   io.Writer
	tty bool
	now func() time.Time

	mu          sync.Mutex
	phase       string
	total, done int
	started     time.Time
	lastDraw    time.Time
	nextLine    int // plain mode: the count at which the next line is due
}

const barWidth = 30

func (p *printer) Start(phase string, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase, p.total, p.done = phase, total, 0
	p.started = p.now()
	p.nextLine = p.step()
	if p.tty {
		p.draw()
		return
	}
	if total > 0 {
		fmt.Fprintf(p.w, "%s: %d to do\n", phase, total)
	} else {
		fmt.Fprintf(p.w, "%s: started\n", phase)
	}
}

// step is the plain mode's line interval: a tenth of the phase.
func (p *printer) step() int { return max(p.total/10, 1) }

func (p *printer) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if p.tty {
		// Redraw at most ten times a second: a terminal is slow too.
		if now := p.now(); now.Sub(p.lastDraw) >= 100*time.Millisecond {
			p.draw()
		}
		return
	}
	if p.total > 0 && p.done >= p.nextLine && p.done < p.total {
		fmt.Fprintf(p.w, "%s: %d/%d (%d%%)\n", p.phase, p.done, p.total, 100*p.done/p.total)
		for p.nextLine <= p.done {
			p.nextLine += p.step()
		}
	}
}

func (p *printer) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	took := p.now().Sub(p.started).Round(time.Millisecond)
	if p.tty {
		p.draw()
		fmt.Fprintf(p.w, " %s\n", took)
		return
	}
	fmt.Fprintf(p.w, "%s: %d done in %s\n", p.phase, p.done, took)
}

// draw rewrites the terminal line: phase, bar, count.
func (p *printer) draw() {
	p.lastDraw = p.now()
	if p.total <= 0 {
		fmt.Fprintf(p.w, "\r%-24s %d", p.phase, p.done)
		return
	}
	filled := min(barWidth*p.done/p.total, barWidth)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", barWidth-filled)
	fmt.Fprintf(p.w, "\r%-24s [%s] %d/%d %3d%%", p.phase, bar, p.done, p.total, min(100*p.done/p.total, 100))
}
