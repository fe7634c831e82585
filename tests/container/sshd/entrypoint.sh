#!/bin/sh
# Make keys on first start (kept in the /keys volume), set passwords, start sshd.
set -eu
mkdir -p /keys /etc/ssh/authorized_keys
if [ ! -s /keys/ssh_host_ed25519_key ]; then
    ssh-keygen -q -t ed25519 -N '' -f /keys/ssh_host_ed25519_key
fi
if [ ! -s /keys/client_ed25519 ]; then
    ssh-keygen -q -t ed25519 -N '' -f /keys/client_ed25519
    chmod 0644 /keys/client_ed25519  # test-only: the agent runs as another uid
fi
printf 'sshd %s\n' "$(cut -d' ' -f1,2 /keys/ssh_host_ed25519_key.pub)" > /keys/known_hosts
cp /keys/client_ed25519.pub /etc/ssh/authorized_keys/station
password="$(cat /run/secrets/sshd_password 2>/dev/null || echo station-demo-password)"
printf 'station:%s\nsftponly:%s\n' "$password" "$password" | chpasswd
for user in station sftponly; do
    mkdir -p "/srv/upload/$user"
    chown "$user:$user" "/srv/upload/$user"
done
exec /usr/sbin/sshd -D -e
