package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/kinko-dev/kinko/client"
)

func Example() {
	c, err := client.New(os.Getenv) // localhost:2773 and the session token Lambda sets
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := c.SecretJSONKey(context.TODO(), "prod/openai", "OPENAI_API_KEY")
	var kerr *client.Error
	switch {
	case errors.As(err, &kerr) && kerr.Code == "ResourceNotFoundException":
		fmt.Println("create the secret first")
	case err != nil:
		fmt.Println(err) // never contains the secret
	default:
		_ = key // use it; do not log it
	}
}

// A value the client keeps in memory (for half of kinko's ttl) can be refused after a
// rotation; RefreshNow reads it again past both caches and replaces what the client kept.
func ExampleRefreshNow() {
	c, err := client.New(os.Getenv) // client.WithoutCache() would switch the client's cache off
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.TODO()
	var status string
	key, err := c.SecretJSONKey(ctx, "prod/openai", "OPENAI_API_KEY", client.CacheStatusTo(&status))
	if err != nil {
		fmt.Println(err)
		return
	}
	if rejected := useKey(key); rejected && strings.Contains(status, "hit") {
		key, err = c.SecretJSONKey(ctx, "prod/openai", "OPENAI_API_KEY", client.RefreshNow())
		if err == nil && useKey(key) {
			fmt.Println("the provider refused the key read afresh too")
		}
	}
}

// useKey stands for the call the key is for; it reports whether the provider refused it.
func useKey(key string) (rejected bool) { return key == "" }
