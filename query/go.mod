module github.com/sensorlab/sensorlab/query

go 1.26.0
