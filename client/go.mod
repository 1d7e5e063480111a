module github.com/kinko-dev/kinko/client

go 1.26.0
