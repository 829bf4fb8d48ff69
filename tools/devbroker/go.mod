module github.com/sensorlab/sensorlab/tools/devbroker

go 1.26.0
