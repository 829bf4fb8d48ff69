package sql

import "testing"

// BenchmarkParseSeedLab parses the seed lab's seven statements.
func BenchmarkParseSeedLab(b *testing.B) {
	b.SetBytes(int64(len(seedLab)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("seed.sql", seedLab); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLexSeedLab measures the lexer alone on the same text.
func BenchmarkLexSeedLab(b *testing.B) {
	b.SetBytes(int64(len(seedLab)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lex(seedLab); err != nil {
			b.Fatal(err)
		}
	}
}
