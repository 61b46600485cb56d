//! Plain HTTP/1.1 to loopback addresses, the only ones the data plane
//! talks to: one kept-alive connection per [`Connection`].

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::Error;

/// One HTTP/1.1 connection to a loopback address.
pub(crate) struct Connection {
    address: SocketAddr,
    sender: SendRequest<Empty<Bytes>>,
    task: tokio::task::JoinHandle<()>,
}

impl Connection {
    /// Connects to `address`.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoopback`] outside 127.0.0.0/8, [`Error::Request`] when
    /// the connection fails.
    pub(crate) async fn open(address: SocketAddr) -> Result<Self, Error> {
        if !address.ip().is_loopback() {
            return Err(Error::NotLoopback(address.to_string()));
        }
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| Error::Request(format!("connect to {address}: {e}")))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Error::Request(format!("{address}: {e}")))?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self {
            address,
            sender,
            task,
        })
    }

    /// `GET path` with `headers`: the status code and the body.
    ///
    /// # Errors
    ///
    /// [`Error::Request`] when the request fails (the connection is then
    /// unusable).
    pub(crate) async fn get(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(u16, Bytes), Error> {
        let fail =
            |e: &dyn std::fmt::Display| Error::Request(format!("{}{path}: {e}", self.address));
        let mut request = hyper::Request::get(path).header(hyper::header::HOST, "rollgate.test");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Empty::new()).map_err(|e| fail(&e))?;
        self.sender.ready().await.map_err(|e| fail(&e))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| fail(&e))?;
        let code = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| fail(&e))?
            .to_bytes();
        Ok((code, body))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One `GET path` on a fresh connection to `address`.
///
/// # Errors
///
/// As [`Connection::open`] and [`Connection::get`].
pub(crate) async fn get(address: SocketAddr, path: &str) -> Result<(u16, Bytes), Error> {
    Connection::open(address).await?.get(path, &[]).await
}
