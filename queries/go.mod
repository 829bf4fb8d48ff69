module github.com/sensorlab/sensorlab/queries

go 1.26.0
