package acsemulator_test

import (
	"context"
	"fmt"
	"log"

	"github.com/acsgo/acsidentity"
	"github.com/testcontainers/testcontainers-go"

	"github.com/acsgo/acsidentity/testcontainers/acsemulator"
)

// Run the emulator image for a test and use its connection string with the
// library's Client (or any ACS SDK).
func ExampleRun() {
	ctx := context.Background()
	ctr, err := acsemulator.Run(ctx, "acsidentity-emulator:latest")
	defer func() {
		if err := testcontainers.TerminateContainer(ctr); err != nil {
			log.Printf("terminating the emulator: %v", err)
		}
	}()
	if err != nil {
		log.Printf("starting the emulator: %v", err)
		return
	}
	conn, err := ctr.ConnectionString(ctx)
	if err != nil {
		log.Print(err)
		return
	}
	client, err := acsidentity.NewClientFromConnectionString(conn, nil)
	if err != nil {
		log.Print(err)
		return
	}
	user, err := client.CreateUser(ctx, nil)
	if err != nil {
		log.Print(err)
		return
	}
	fmt.Println(user.User.ID)
}
