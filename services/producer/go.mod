module github.com/sensorlab/sensorlab/services/producer

go 1.26.0

require github.com/sensorlab/sensorlab/contract v0.0.0

replace github.com/sensorlab/sensorlab/contract => ../../contract
