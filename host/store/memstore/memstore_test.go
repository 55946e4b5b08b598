package memstore_test

import (
	"testing"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/memstore"
	"github.com/onboardhq/onboard/host/store/storetest"
)

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memstore.New(memstore.Options{}) })
}
