// Package expr compiles the scalar expressions of a query (query/sql's
// AST) into typed, vectorised evaluators over query/types batches, with
// Spark SQL's semantics in non-ANSI mode (Spark 3.5 defaults, session time
// zone UTC).
//
// Use:
//
//	e, err := expr.Compile(ast, &expr.Scope{Columns: cols})
//	e.Eval(batch, &out) // out: e.Type(), batch.N rows
//
// Compile resolves column names (case-insensitively; t.a against a
// column's Qualifier), types every node, inserts Spark's implicit casts
// (see coerce.go for which) and folds every subtree that does not read
// the input into a constant (Const gives its value, e.g. for the planner's
// window('10 seconds')). Scope.Replace lets the planner stand an input
// column in for any node (an aggregate, window(…), a GROUP BY key it has
// computed); aggregate functions that are not replaced are refused
// (IsAggregate lists Spark's). Errors are *sql.Error at the offending
// node, worded as Spark words them, with Spark's error class in brackets.
//
// Evaluation is a column at a time: each operator runs one loop per batch
// over typed slices, with its type-dependent choices made before the loop;
// an operand that is a column is read in place, a constant operand is read
// once. Every branch of CASE and every argument is evaluated for every row
// (nothing can fail in non-ANSI mode, so this gives Spark's results), then
// combined.
//
// Invariants:
//   - a vector an Expr fills follows query/types' representation: the
//     slice of its type holds b.N values, Null is nil when no row is null,
//     and a null row's value slot holds the zero value; an INT holds an
//     int32 value;
//   - Eval never writes to the batch, and the vector it fills shares no
//     storage with the batch or with the Expr, so it stays valid after the
//     next Eval (strings may share bytes with the input strings, which are
//     immutable);
//   - an Expr keeps scratch vectors: one Expr is evaluated by one goroutine
//     at a time (compile one per goroutine to run in parallel);
//   - no input value makes Eval panic: overflow, division by zero and
//     unparsable strings give NULL (or wrap, for integer overflow), as in
//     non-ANSI Spark.
//
// DECIMAL is stored in an int64 (precision up to 18, query/types): where
// Spark's result type would need more than 18 digits, the precision is
// capped at 18 and the scale reduced as Spark reduces it at 38
// (adjustPrecisionScale, keeping at least 6 fraction digits), and results
// that do not fit are NULL.
package expr
