module github.com/sensorlab/sensorlab/envflag

go 1.26.0
