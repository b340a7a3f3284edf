package discovery

import (
	"fmt"
	"log/slog"
)

// Option configures a Discovery (New) or a Cache (Discovery.Cache, which starts from its
// Discovery's settings).
type Option func(*options)

type options struct {
	serializer any // a Serializer[T], checked by New
	logger     *slog.Logger
	onError    func(error)
	errs       []error
}

// WithSerializer sets how instances are written and read (default JSON[T]() with no Java
// class). Its type parameter must be New's, or New fails with ErrInvalidOption.
func WithSerializer[T any](s Serializer[T]) Option {
	return func(o *options) {
		if s == nil {
			o.errs = append(o.errs, fmt.Errorf("%w: nil serializer", ErrInvalidOption))
			return
		}
		o.serializer = s
	}
}

// WithLogger sends what the recipe has to say (skipped bad data, failed background
// re-registrations) to l. By default it uses the Client's logger.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithErrorHandler calls fn with every error that happens in the background: a znode with
// bad data that was skipped (a *NodeError wrapping ErrMalformed), a failed watch or
// re-registration. fn must not block; it may be called from several goroutines.
func WithErrorHandler(fn func(error)) Option { return func(o *options) { o.onError = fn } }

// report logs err and hands it to the error handler.
func (o *options) report(msg string, err error) {
	if o.logger != nil {
		o.logger.Warn("discovery: "+msg, "err", err)
	}
	if o.onError != nil {
		o.onError(err)
	}
}
