//! The request limit: a client whose every request (reads, writes, dry
//! runs, and the cache's lists and watches) first waits for the limiter.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Request, Response};
use kube::client::Body;

use crate::error::Error;
use crate::options::RequestLimit;

/// The rate limiter behind a [`RequestLimit`].
pub(crate) type Limiter = governor::DefaultDirectRateLimiter;

/// The limiter for `limit`.
pub(crate) fn limiter(limit: RequestLimit) -> Result<Arc<Limiter>, Error> {
    let invalid = || Error::InvalidRequestLimit {
        qps: limit.qps,
        burst: limit.burst,
    };
    if !(limit.qps.is_finite() && limit.qps > 0.0) {
        return Err(invalid());
    }
    let burst = NonZeroU32::new(limit.burst).ok_or_else(invalid)?;
    let period = Duration::try_from_secs_f64(1.0 / limit.qps).map_err(|_| invalid())?;
    let quota = governor::Quota::with_period(period)
        .ok_or_else(invalid)?
        .allow_burst(burst);
    Ok(Arc::new(governor::RateLimiter::direct(quota)))
}

/// `client`, waiting for `limiter` before each request it sends.
pub(crate) fn limited(client: kube::Client, limiter: Arc<Limiter>) -> kube::Client {
    let namespace = client.default_namespace().to_owned();
    kube::Client::new(
        Limited {
            inner: client,
            limiter,
        },
        namespace,
    )
}

/// A tower service sending through a client after the limiter allows it.
#[derive(Clone)]
struct Limited {
    inner: kube::Client,
    limiter: Arc<Limiter>,
}

impl tower::Service<Request<Body>> for Limited {
    type Response = Response<Body>;
    type Error = kube::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, kube::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        let limiter = Arc::clone(&self.limiter);
        Box::pin(async move {
            limiter.until_ready().await;
            inner.send(request).await
        })
    }
}

impl RequestLimit {
    /// `client`, sending each request only when this limit allows it, as
    /// client-go's `QPS` and `Burst` do for a Go controller's clientset.
    /// Clones of the returned client share one budget, so a controller and
    /// the routers it runs in-process stay within the limit together.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequestLimit`] when the rate is not positive and
    /// finite or the burst is 0.
    ///
    /// ```
    /// # async fn demo(client: kube::Client) -> Result<(), router_kube::Error> {
    /// use router_kube::RequestLimit;
    /// let limited = RequestLimit { qps: 40.0, burst: 80 }.limit(client)?;
    /// # drop(limited);
    /// # Ok(())
    /// # }
    /// ```
    pub fn limit(self, client: kube::Client) -> Result<kube::Client, Error> {
        Ok(limited(client, limiter(self)?))
    }
}
