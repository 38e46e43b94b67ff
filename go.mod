module github.com/acsgo/acsidentity

go 1.26

require (
	github.com/Azure/azure-sdk-for-go/sdk/azcore v1.24.0
	github.com/google/go-cmp v0.7.0
)
