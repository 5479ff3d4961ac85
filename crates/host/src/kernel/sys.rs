//! Thin, safe wrappers over the few socket calls the oracle needs.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::KernelError;

const NETLINK_NETFILTER: libc::c_int = 12;
/// `NFNLGRP_NFTRACE`.
const NFNLGRP_NFTRACE: libc::c_int = 9;
const ETH_P_ALL: u16 = 0x0003;
const PACKET_OUTGOING: u8 = 4;

fn check(rc: libc::c_int, what: &str) -> Result<libc::c_int, KernelError> {
    if rc < 0 {
        Err(KernelError::last_os(what.to_string()))
    } else {
        Ok(rc)
    }
}

fn new_socket(
    domain: libc::c_int,
    ty: libc::c_int,
    proto: libc::c_int,
) -> Result<OwnedFd, KernelError> {
    // SAFETY: plain socket(2) call; the fd is owned right away.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, proto) };
    check(fd, "socket")?;
    // SAFETY: fd is a fresh, valid descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn setsockopt_int(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
    what: &str,
) -> Result<(), KernelError> {
    // SAFETY: value lives for the call; size matches.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    check(rc, what).map(|_| ())
}

/// A netlink socket subscribed to `NFNLGRP_NFTRACE` in the calling thread's namespace.
pub(crate) fn trace_socket() -> Result<OwnedFd, KernelError> {
    let fd = new_socket(libc::AF_NETLINK, libc::SOCK_RAW, NETLINK_NETFILTER)?;
    // SAFETY: zeroed sockaddr_nl is a valid value; fields set below.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: addr is a valid sockaddr_nl of the given size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    check(rc, "bind netlink")?;
    setsockopt_int(
        &fd,
        libc::SOL_NETLINK,
        libc::NETLINK_ADD_MEMBERSHIP,
        NFNLGRP_NFTRACE,
        "join NFNLGRP_NFTRACE",
    )?;
    // A larger buffer makes lost events (ENOBUFS) unlikely; failure to raise it is harmless.
    let _ = setsockopt_int(
        &fd,
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        8 << 20,
        "SO_RCVBUFFORCE",
    );
    Ok(fd)
}

/// A packet socket bound to interface `ifname` of the calling thread's namespace.
pub(crate) fn packet_socket(ifname: &str) -> Result<(OwnedFd, i32), KernelError> {
    let cname = std::ffi::CString::new(ifname)
        .map_err(|_| KernelError::Host(format!("bad interface name {ifname:?}")))?;
    // SAFETY: cname is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if index == 0 {
        return Err(KernelError::last_os(format!("if_nametoindex({ifname})")));
    }
    let fd = new_socket(
        libc::AF_PACKET,
        libc::SOCK_RAW,
        i32::from(ETH_P_ALL.to_be()),
    )?;
    // SAFETY: zeroed sockaddr_ll is valid; fields set below.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = ETH_P_ALL.to_be();
    addr.sll_ifindex = index as i32;
    // SAFETY: addr is a valid sockaddr_ll of the given size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    check(rc, "bind packet socket")?;
    Ok((fd, index as i32))
}

/// A raw IP socket (`IPPROTO_RAW`, header included) in the calling thread's namespace.
pub(crate) fn raw_ip_socket(v6: bool) -> Result<OwnedFd, KernelError> {
    let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    new_socket(domain, libc::SOCK_RAW, libc::IPPROTO_RAW)
}

/// Sets `SO_MARK`.
pub(crate) fn set_mark(fd: &OwnedFd, mark: u32) -> Result<(), KernelError> {
    setsockopt_int(
        fd,
        libc::SOL_SOCKET,
        libc::SO_MARK,
        mark as libc::c_int,
        "SO_MARK",
    )
}

/// Sends an Ethernet frame out of the packet socket's interface.
pub(crate) fn send_frame(fd: &OwnedFd, ifindex: i32, frame: &[u8]) -> Result<(), KernelError> {
    // SAFETY: zeroed sockaddr_ll is valid; fields set below.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_ifindex = ifindex;
    addr.sll_halen = 6;
    if let Some(dst) = frame.get(0..6) {
        addr.sll_addr[..6].copy_from_slice(dst);
    }
    // SAFETY: frame and addr are valid for the call.
    let rc = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(KernelError::last_os("send frame"));
    }
    Ok(())
}

/// Sends an IP packet through a raw IP socket to `dst`.
pub(crate) fn send_ip(
    fd: &OwnedFd,
    dst: std::net::IpAddr,
    packet: &[u8],
) -> Result<(), KernelError> {
    let rc = match dst {
        std::net::IpAddr::V4(a) => {
            // SAFETY: zeroed sockaddr_in is valid.
            let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
            // SAFETY: buffers valid for the call.
            unsafe {
                libc::sendto(
                    fd.as_raw_fd(),
                    packet.as_ptr().cast(),
                    packet.len(),
                    0,
                    (&sa as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        std::net::IpAddr::V6(a) => {
            // SAFETY: zeroed sockaddr_in6 is valid.
            let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_addr.s6_addr = a.octets();
            // SAFETY: buffers valid for the call.
            unsafe {
                libc::sendto(
                    fd.as_raw_fd(),
                    packet.as_ptr().cast(),
                    packet.len(),
                    0,
                    (&sa as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    if rc < 0 {
        return Err(KernelError::last_os(format!("send raw packet to {dst}")));
    }
    Ok(())
}

/// Starts a non-blocking TCP connect() to `dst` (with `SO_MARK`), in the calling thread's
/// namespace. The returned socket keeps the connection attempt alive until dropped.
pub(crate) fn start_connect(dst: std::net::SocketAddr, mark: u32) -> Result<OwnedFd, KernelError> {
    let v6 = dst.is_ipv6();
    let fd = new_socket(
        if v6 { libc::AF_INET6 } else { libc::AF_INET },
        libc::SOCK_STREAM,
        0,
    )?;
    if mark != 0 {
        set_mark(&fd, mark)?;
    }
    let rc = match dst {
        std::net::SocketAddr::V4(a) => {
            // SAFETY: zeroed sockaddr_in is valid.
            let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = a.port().to_be();
            sa.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            // SAFETY: sa valid for the call.
            unsafe {
                libc::connect(
                    fd.as_raw_fd(),
                    (&sa as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        std::net::SocketAddr::V6(a) => {
            // SAFETY: zeroed sockaddr_in6 is valid.
            let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_port = a.port().to_be();
            sa.sin6_addr.s6_addr = a.ip().octets();
            // SAFETY: sa valid for the call.
            unsafe {
                libc::connect(
                    fd.as_raw_fd(),
                    (&sa as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(KernelError::io(format!("connect to {dst}"), err));
        }
    }
    Ok(fd)
}

/// Waits up to `timeout` for the socket to become readable.
pub(crate) fn wait_readable(fd: &OwnedFd, timeout: Duration) -> Result<bool, KernelError> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: pfd is valid for the call.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() == std::io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(KernelError::io("poll", err));
    }
    Ok(rc > 0)
}

/// Reads one datagram without blocking; `None` when nothing is queued. For packet sockets
/// the second value tells whether the frame was outgoing.
pub(crate) fn recv(fd: &OwnedFd, buf: &mut [u8]) -> Result<Option<(usize, bool)>, KernelError> {
    // SAFETY: zeroed sockaddr_ll is valid as an out-buffer (large enough for netlink too).
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: buf and addr are valid for writing.
    let rc = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            (&mut addr as *mut libc::sockaddr_ll).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
            Some(libc::ENOBUFS) => Err(KernelError::Netlink(
                "receive buffer overrun: trace events were lost".into(),
            )),
            _ => Err(KernelError::io("recv", err)),
        };
    }
    let outgoing = addr.sll_family == libc::AF_PACKET as u16 && addr.sll_pkttype == PACKET_OUTGOING;
    Ok(Some((rc as usize, outgoing)))
}

/// Discards everything queued on the socket.
pub(crate) fn drain(fd: &OwnedFd) {
    let mut buf = vec![0u8; 65536];
    for _ in 0..10_000 {
        match recv(fd, &mut buf) {
            Ok(Some(_)) | Err(KernelError::Netlink(_)) => {}
            _ => break,
        }
    }
}
