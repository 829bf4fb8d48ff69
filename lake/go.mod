module github.com/sensorlab/sensorlab/lake

go 1.26.0

require github.com/sensorlab/sensorlab/contract v0.0.0

replace github.com/sensorlab/sensorlab/contract => ../contract
