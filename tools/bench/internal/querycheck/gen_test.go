package querycheck

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/tools/bench/internal/readings"
)

// t0 is where generated event times start: 2025-12-03T10:15:00Z, ms.
const t0 = 1764756900000

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// keyName names key i of n with a prefix, zero-padded as the examples'
// ids are (S007, C0042), wider for many keys.
func keyName(prefix string, i, n int) string {
	w := max(3, len(strconv.Itoa(n)))
	return fmt.Sprintf("%s%0*d", prefix, w, i+1)
}

// times returns n event times from t0 over about spanMs, in order, with
// exponential gaps (a Poisson stream).
func times(rng *rand.Rand, n int, spanMs int64) []int64 {
	ts := make([]int64, n)
	t, mean := float64(t0), float64(spanMs)/float64(n)
	for i := range ts {
		t += rng.ExpFloat64() * mean
		ts[i] = int64(t)
	}
	return ts
}

// weights returns n activity weights, log-normal: a few keys are far
// busier than most, as users and customers are.
func weights(rng *rand.Rand, n int) []float64 {
	w := make([]float64, n)
	sum := 0.0
	for i := range w {
		w[i] = math.Exp(1.2 * rng.NormFloat64())
		sum += w[i]
	}
	for i := range w {
		w[i] /= sum
	}
	return w
}

// pickWeighted draws an index with the probabilities w (cumulative search).
func pickWeighted(rng *rand.Rand, cum []float64) int {
	x := rng.Float64() * cum[len(cum)-1]
	lo, hi := 0, len(cum)-1
	for lo < hi {
		m := (lo + hi) / 2
		if cum[m] < x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func cumulative(w []float64) []float64 {
	c := make([]float64, len(w))
	s := 0.0
	for i, x := range w {
		s += x
		c[i] = s
	}
	return c
}

// sensorReading is one reading of the seed's sensors source.
func sensorReading(rng *rand.Rand, id string, ts int64) contract.Event {
	return contract.Event{
		SensorID: id,
		TS:       ts,
		Temp:     contract.Round2(18 + 22*rng.Float64()),
		Hum:      contract.Round2(35 + 60*rng.Float64()),
		OK:       rng.Float64() < 0.95,
	}
}

// sensorJSON renders a reading as the seed's generator does, or one time in
// twenty with the keys in another order, no spaces and a field the source
// does not declare (the decoder's general path).
func sensorJSON(rng *rand.Rand, ev contract.Event) []byte {
	if rng.IntN(20) > 0 {
		return readings.AppendSeedJSON(nil, ev)
	}
	return fmt.Appendf(nil, `{"ok":%t,"hum":%s,"fw":{"v":[1,2],"s":"x,y"},"ts":%d,"temp":%s,"sensor_id":%q}`,
		ev.OK, strconv.FormatFloat(ev.Hum, 'f', -1, 64), ev.TS, strconv.FormatFloat(ev.Temp, 'f', -1, 64), ev.SensorID)
}

// sensorEvents generates n readings of the given number of sensors over
// 30 minutes: each sensor reads at random moments, about every 60·sensors
// ms.
func sensorEvents(rng *rand.Rand, n, sensors int) []event {
	evs := make([]event, n)
	for i, ts := range times(rng, n, 30*60*1000) {
		id := keyName("S", rng.IntN(sensors), sensors)
		evs[i] = event{value: sensorJSON(rng, sensorReading(rng, id, ts)), key: id, t: ts * 1000}
	}
	return evs
}

// transactionEvents generates n card transactions of users over n·0.54 s
// (6 hours for 40,000),
// some users far busier than others (so that some exceed 5 transactions in
// 10 minutes and most do not); amounts have cents, a few are null or absent.
func transactionEvents(rng *rand.Rand, n, users int) []event {
	cum := cumulative(weights(rng, users))
	evs := make([]event, n)
	for i, ts := range times(rng, n, int64(n)*540) {
		id := keyName("U", pickWeighted(rng, cum), users)
		var amount string
		switch x := rng.IntN(100); {
		case x == 0:
			amount = ""
		case x <= 2:
			amount = `"amount": null, `
		default:
			amount = `"amount": ` + strconv.FormatFloat(float64(50+rng.IntN(50000))/100, 'f', -1, 64) + ", "
		}
		evs[i] = event{value: fmt.Appendf(nil, `{"user_id": %q, %s"ts": %d}`, id, amount, ts), key: id, t: ts * 1000}
	}
	return evs
}

// sitePages are the pages of the clicks example's site; product pages are
// added from a large catalogue.
var sitePages = []string{"/", "/cart", "/checkout", "/search", "/login", "/account", "/help", "/offers",
	"/category/books", "/category/games", "/category/garden", "/category/music"}

// clickEvents generates the clicks of users over spanMs: each user has
// sessions of one to a hundred clicks (meanClicks on average), usually
// minutes apart, and goes away between them (usually for over 30 minutes, sometimes for
// less, so that some visits join the previous session). A page is one of
// the site's pages or a product page, and now and then null.
func clickEvents(rng *rand.Rand, users int, spanMs int64, meanClicks float64) []event {
	var evs []event
	for u := range users {
		id := keyName("U", u, users)
		t := t0 + int64(rng.Float64()*float64(spanMs)/4)
		for t < t0+spanMs {
			clicks := 1 + int(rng.ExpFloat64()*(meanClicks-1))
			for range clicks {
				var page string
				switch x := rng.IntN(100); {
				case x < 2:
					page = `"page": null`
				case x < 60:
					page = fmt.Sprintf(`"page": %q`, sitePages[rng.IntN(len(sitePages))])
				default:
					page = fmt.Sprintf(`"page": "/product/%d"`, 1+int(math.Pow(rng.Float64(), 3)*3000))
				}
				evs = append(evs, event{value: fmt.Appendf(nil, `{"user_id": %q, %s, "ts": %d}`, id, page, t), key: id, t: t * 1000})
				t += int64(rng.ExpFloat64() * 120_000) // ~2 minutes between clicks
			}
			if rng.IntN(5) == 0 {
				t += int64(rng.Float64() * 30 * 60_000) // back soon: may join the session
			} else {
				t += 30*60_000 + int64(rng.ExpFloat64()*90*60_000)
			}
		}
	}
	return evs
}

// telemetryEvents generates n readings of devices over 12 hours. Each
// device runs at its own temperature (60 to 85 degrees) with noise, so
// that some 5-minute averages exceed 75 and most do not. Temperatures have
// three decimals, the last one 3: with fewer than 100 readings in a window,
// no average is exactly 75.0, where the engine's and DuckDB's rounding
// could fall on either side of HAVING avg > 75.0.
func telemetryEvents(rng *rand.Rand, n, devices int) []event {
	base := make([]float64, devices)
	for i := range base {
		base[i] = 60 + 25*rng.Float64()
	}
	evs := make([]event, n)
	for i, ts := range times(rng, n, 12*3600*1000) {
		d := rng.IntN(devices)
		id := keyName("D", d, devices)
		temp := math.Round((base[d]+4*rng.NormFloat64())*100)/100 + 0.003
		evs[i] = event{value: fmt.Appendf(nil, `{"device_id": %q, "temperature": %s, "event_time": %d}`,
			id, strconv.FormatFloat(temp, 'f', 3, 64), ts), key: id, t: ts * 1000}
	}
	return evs
}

// purchaseEvents generates n purchases of customers over 8 hours, in the
// customers example's format: the amount a string with cents ("19.99",
// "12.5", "7") or now and then a JSON number, the time an ISO-8601 string
// in UTC (Z) or with an offset, with milli-, micro- or no fraction of a
// second.
func purchaseEvents(rng *rand.Rand, n, customers int) []event {
	cum := cumulative(weights(rng, customers))
	evs := make([]event, n)
	for i, ts := range times(rng, n, 8*3600*1000) {
		id := keyName("C", pickWeighted(rng, cum), customers)
		cents := 100 + rng.IntN(20000)
		amount := strings.TrimSuffix(strings.TrimSuffix(strconv.FormatFloat(float64(cents)/100, 'f', 2, 64), "0"), ".0")
		if rng.IntN(5) > 0 {
			amount = strconv.Quote(amount)
		}
		us := ts * 1000
		var when string
		switch rng.IntN(4) {
		case 0:
			us -= us % 1_000_000
			when = time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05Z")
		case 1:
			when = time.UnixMicro(us).In(time.FixedZone("", 3600)).Format("2006-01-02T15:04:05.000-07:00")
		case 2:
			us += rng.Int64N(1000)
			when = time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000000Z")
		default:
			when = time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000Z")
		}
		evs[i] = event{value: fmt.Appendf(nil, `{"customer_id": %q, "amount": %s, "ts": %q}`, id, amount, when), key: id, t: us}
	}
	return evs
}

// lineEvents generates n lines of text for the word count: a few words
// from a vocabulary of the given size (frequent words far more frequent,
// as in prose), some not ASCII, separated by one space or now and then
// two, some lines empty or with spaces at either end.
func lineEvents(rng *rand.Rand, n, vocabulary int) []event {
	syll := []string{"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "zé", "ün", "ß", "日"}
	words := make([]string, vocabulary)
	seen := map[string]bool{}
	for i := range words {
		for {
			var b strings.Builder
			for range 1 + rng.IntN(4) {
				b.WriteString(syll[rng.IntN(len(syll))])
			}
			if w := b.String(); !seen[w] {
				seen[w] = true
				words[i] = w
				break
			}
		}
	}
	evs := make([]event, n)
	for i := range evs {
		var b strings.Builder
		if rng.IntN(20) == 0 {
			b.WriteByte(' ')
		}
		k := rng.IntN(13)
		for j := range k {
			if j > 0 {
				b.WriteByte(' ')
				if rng.IntN(15) == 0 {
					b.WriteByte(' ')
				}
			}
			b.WriteString(words[int(math.Pow(rng.Float64(), 2.5)*float64(vocabulary))])
		}
		if k > 0 && rng.IntN(20) == 0 {
			b.WriteByte(' ')
		}
		evs[i] = event{value: []byte(b.String()), t: (t0 + int64(i)) * 1000}
	}
	return evs
}
