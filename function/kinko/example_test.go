package kinko_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/kinko-dev/kinko/function/kinko"
)

func Example() {
	c, err := kinko.New(os.Getenv) // localhost:2773 and the session token Lambda sets
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := c.SecretJSONKey(context.TODO(), "prod/openai", "OPENAI_API_KEY")
	var kerr *kinko.Error
	switch {
	case errors.As(err, &kerr) && kerr.Code == "ResourceNotFoundException":
		fmt.Println("create the secret first")
	case err != nil:
		fmt.Println(err) // never contains the secret
	default:
		_ = key // use it; do not log it
	}
}
