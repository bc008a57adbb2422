module github.com/reactorlab/reactor

go 1.24
