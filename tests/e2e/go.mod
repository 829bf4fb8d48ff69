module github.com/sensorlab/sensorlab/tests/e2e

go 1.26.0

require (
	github.com/sensorlab/sensorlab/contract v0.0.0
	github.com/sensorlab/sensorlab/lake v0.0.0
)

replace (
	github.com/sensorlab/sensorlab/contract => ../../contract
	github.com/sensorlab/sensorlab/lake => ../../lake
)
