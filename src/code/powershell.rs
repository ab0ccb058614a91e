//! PowerShell: .NET's `System.Net.Sockets` (`TcpListener`, `TcpClient`, `UdpClient`). One
//! client at a time for plain servers, as the lecture's; the chat room polls its members'
//! sockets so one script holds them all. No PowerShell is installable here, so these are
//! checked as golden files only.

use super::builder::Code;
use super::{Lang, Program};
use crate::engine::behavior::Behavior;

/// A PowerShell string literal: single quotes take everything as it is but `'` (doubled);
/// control characters need a double-quoted string with backtick escapes, where `` ` ``, `"`
/// and `$` are escaped too.
pub fn string(s: &str) -> String {
    if !s.chars().any(|c| c.is_control()) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '`' | '"' | '$' => {
                out.push('`');
                out.push(c);
            }
            '\n' => out.push_str("`n"),
            '\r' => out.push_str("`r"),
            '\t' => out.push_str("`t"),
            '\0' => out.push_str("`0"),
            c if c.is_control() => out.push_str(&format!("`u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn add_fn(c: &mut Code) {
    c.open("function Add-Message([string]$data) {")
        .line("# The sum of each \"A,B\" message, as the lecture's add server answers.")
        .line("$out = ''")
        .line("$parts = $data -split \"`n\"")
        .open("for ($i = 0; $i -lt $parts.Count; $i++) {")
        .line("$line = $parts[$i]")
        .line("$nl = if ($i -lt $parts.Count - 1) { \"`n\" } else { '' }")
        .line("if ($line -eq '' -and $nl -eq '') { continue }")
        .line("$ab = $line.Trim() -split ','")
        .line("$a = [System.Numerics.BigInteger]::Zero; $b = [System.Numerics.BigInteger]::Zero")
        .open("if ($ab.Count -eq 2 -and [System.Numerics.BigInteger]::TryParse($ab[0].Trim(), [ref]$a) -and [System.Numerics.BigInteger]::TryParse($ab[1].Trim(), [ref]$b)) {")
        .line("$out += ($a + $b).ToString() + $nl")
        .reopen("} else {")
        .line("$out += \"error: send two integers like 50,40`n\"")
        .close(Some("}"))
        .close(Some("}"))
        .line("return $out")
        .close(Some("}"))
        .blank();
}

fn rules_fn(p: &Program, c: &mut Code) {
    c.line("# Reply rules, tried on each message before the behavior: the first match answers.")
        .open("$Rules = @(");
    for r in &p.rules {
        c.line(format!(
            "@{{ Kind = {}; Pattern = {}; Reply = {}; Count = 0 }}",
            string(&r.kind),
            string(&r.pattern),
            string(&r.reply)
        ));
    }
    c.close(Some(")"))
        .blank()
        .open("function Get-RuleReply([string]$message, [string]$peer) {")
        .line("$text = $message.TrimEnd(\"`n\").TrimEnd(\"`r\")")
        .open("foreach ($rule in $Rules) {")
        .line("$found = $null")
        .open("switch ($rule.Kind) {")
        .line("'exact' { if ($text -ceq $rule.Pattern) { $found = $rule.Pattern } }")
        .line("'contains' { if ($text.Contains($rule.Pattern)) { $found = $rule.Pattern } }")
        .line("'regex' { $m = [regex]::Match($text, $rule.Pattern); if ($m.Success) { $found = if ($m.Groups.Count -gt 1) { $m.Groups[1].Value } else { $m.Value } } }")
        .close(Some("}"))
        .line("if ($null -eq $found) { continue }")
        .line("$rule.Count++")
        .line("$now = [DateTime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ssZ')")
        .line("$out = $rule.Reply.Replace('{{peer}}', $peer).Replace('{{time}}', $now)")
        .line("$out = $out.Replace('{{counter}}', [string]$rule.Count).Replace('{{match}}', $found)")
        .line("if ($message.EndsWith(\"`n\") -and -not $out.EndsWith(\"`n\")) { $out += \"`n\" }")
        .line("return $out")
        .close(Some("}"))
        .line("return $null")
        .close(Some("}"))
        .blank();
}

/// The reply to `$data` as an expression, if the behavior replies.
fn reply_expr(b: Behavior) -> Option<&'static str> {
    match b {
        Behavior::Echo => Some("$data"),
        Behavior::Uppercase => Some("$data.ToUpperInvariant()"),
        Behavior::Add => Some("(Add-Message $data)"),
        Behavior::Greet => Some("$Greeting"),
        Behavior::Daytime => Some("[DateTime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ssZ') + \"`r`n\""),
        Behavior::Manual => Some("(Read-Host 'reply') + \"`n\""),
        _ => None,
    }
}

fn reply_fn(p: &Program, c: &mut Code) {
    c.open("function Get-Reply([string]$data, [string]$peer) {");
    if p.rules.is_empty() {
        c.line(format!("return {}", reply_expr(p.behavior).unwrap_or("''")));
    } else {
        c.line("$out = ''")
            .open("foreach ($message in [regex]::Split($data, '(?<=\\n)')) {")
            .line("if ($message -eq '') { continue }")
            .line("$answer = Get-RuleReply $message $peer")
            .line("if ($null -ne $answer) { $out += $answer; continue }");
        if let Some(e) = reply_expr(p.behavior) {
            c.line("$data = $message").line(format!("$out += {e}"));
        }
        c.close(Some("}")).line("return $out");
    }
    c.close(Some("}")).blank();
}

fn preamble(p: &Program, c: &mut Code) {
    c.line(format!("$HostName = {}", string(&p.host())))
        .line(format!("$Port = {}", p.addr.port()))
        .line("$Utf8 = [System.Text.Encoding]::UTF8");
    if let Some((name, value)) = p.setting(["$Greeting", "$FileName", "$MaxClients"], string) {
        c.line(format!("{name} = {value}"));
    }
    c.blank();
    if p.behavior == Behavior::Add {
        add_fn(c);
    }
    if !p.rules.is_empty() {
        rules_fn(p, c);
    }
}

fn tcp_server(p: &Program, c: &mut Code) {
    preamble(p, c);
    let replies = !matches!(
        p.behavior,
        Behavior::Greet | Behavior::Daytime | Behavior::File | Behavior::Receive | Behavior::Chat
    );
    if replies {
        reply_fn(p, c);
    }
    c.line("$listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Parse($HostName), $Port)   # socket(), bind()")
        .line(format!("$listener.Start({})                                 # listen()", p.backlog))
        .line("Write-Host \"listening on ${HostName}:$Port\"");
    if p.behavior == Behavior::Chat {
        chat_room(p, c);
        return;
    }
    if p.behavior == Behavior::Receive {
        c.line("$count = 0");
    }
    c.open("while ($true) {")
        .line("$client = $listener.AcceptTcpClient()          # accept(): a new socket for this client")
        .line("$stream = $client.GetStream()")
        .line("Write-Host \"connection from $($client.Client.RemoteEndPoint)\"");
    match p.behavior {
        Behavior::Greet | Behavior::Daytime => {
            c.line(format!(
                "$bytes = $Utf8.GetBytes({})",
                reply_expr(p.behavior).unwrap_or("''")
            ))
            .line("$stream.Write($bytes, 0, $bytes.Length)         # send()");
        }
        Behavior::File => {
            c.line("$file = [System.IO.File]::OpenRead((Join-Path $PWD $FileName))")
                .line("$file.CopyTo($stream)                           # send() the file, as it is read")
                .line("$file.Close()")
                .line("Write-Host \"sent $FileName SHA-256 $((Get-FileHash $FileName -Algorithm SHA256).Hash.ToLower())\"");
        }
        Behavior::Receive => {
            c.line("$count++")
                .line("$name = \"received-$count.bin\"")
                .line("$file = [System.IO.File]::Create((Join-Path $PWD $name))")
                .line("$stream.CopyTo($file)                           # recv() until the client is done")
                .line("$file.Close()")
                .line("Write-Host \"saved $name SHA-256 $((Get-FileHash $name -Algorithm SHA256).Hash.ToLower())\"");
        }
        _ => {
            c.line(format!("$buffer = New-Object byte[] {}", p.recv_size))
                .open("while (($n = $stream.Read($buffer, 0, $buffer.Length)) -gt 0) {   # recv()")
                .line("$data = $Utf8.GetString($buffer, 0, $n)")
                .line("Write-Host \"received $data\"")
                .line("$reply = Get-Reply $data \"$($client.Client.RemoteEndPoint)\"")
                .open("if ($reply) {")
                .line("$bytes = $Utf8.GetBytes($reply)")
                .line("$stream.Write($bytes, 0, $bytes.Length)     # send()")
                .close(Some("}"))
                .close(Some("}"));
        }
    }
    c.line("$client.Close()                                 # close()")
        .close(Some("}"));
}

fn chat_room(p: &Program, c: &mut Code) {
    c.line("$members = [System.Collections.Generic.List[System.Net.Sockets.TcpClient]]::new()")
        .line(format!("$buffer = New-Object byte[] {}", p.recv_size))
        .open("function Send-Others($message, $sender) {")
        .line("$bytes = $Utf8.GetBytes($message)")
        .open("foreach ($m in @($members)) {")
        .line("if ($m -ne $sender) { try { $m.GetStream().Write($bytes, 0, $bytes.Length) } catch { } }")
        .close(Some("}"))
        .close(Some("}"))
        .line("# One loop polls for new members and for what each says, so one script holds them all.")
        .open("while ($true) {")
        .open("while ($listener.Pending()) {")
        .line("$client = $listener.AcceptTcpClient()      # accept()")
        .line("if ($members.Count -ge $MaxClients) { $client.Close(); continue }   # the room is full")
        .line("$members.Add($client)")
        .line("$me = \"$($client.Client.RemoteEndPoint)\"")
        .line("$welcome = $Utf8.GetBytes(\"*** welcome $me; $($members.Count) online`n\")")
        .line("$client.GetStream().Write($welcome, 0, $welcome.Length)")
        .line("Send-Others \"*** $me joined ($($members.Count) online)`n\" $client")
        .close(Some("}"))
        .open("foreach ($m in @($members)) {")
        .line("if (-not $m.Client.Poll(0, [System.Net.Sockets.SelectMode]::SelectRead)) { continue }")
        .line("$me = \"$($m.Client.RemoteEndPoint)\"")
        .line("$n = 0; try { $n = $m.GetStream().Read($buffer, 0, $buffer.Length) } catch { }   # recv()")
        .open("if ($n -eq 0) {")
        .line("$members.Remove($m) | Out-Null")
        .line("$m.Close()")
        .line("Send-Others \"*** $me left ($($members.Count) online)`n\" $null")
        .line("continue")
        .close(Some("}"))
        .open("foreach ($message in [regex]::Split($Utf8.GetString($buffer, 0, $n), '(?<=\\n)')) {")
        .line("if ($message -eq '') { continue }");
    if !p.rules.is_empty() {
        c.line("$answer = Get-RuleReply $message $me")
            .open("if ($null -ne $answer) {")
            .line(
                "$bytes = $Utf8.GetBytes($answer); $m.GetStream().Write($bytes, 0, $bytes.Length)",
            )
            .line("continue")
            .close(Some("}"));
    }
    c.line("if (-not $message.EndsWith(\"`n\")) { $message += \"`n\" }")
        .line("Send-Others \"${me}: $message\" $m")
        .close(Some("}"))
        .close(Some("}"))
        .line("Start-Sleep -Milliseconds 10")
        .close(Some("}"));
}

fn udp_server(p: &Program, c: &mut Code) {
    preamble(p, c);
    reply_fn(p, c);
    c.line("$endpoint = [System.Net.IPEndPoint]::new([System.Net.IPAddress]::Parse($HostName), $Port)")
        .line("$udp = [System.Net.Sockets.UdpClient]::new($endpoint)   # socket(), bind()")
        .line("Write-Host \"bound to ${HostName}:$Port\"")
        .open("while ($true) {")
        .line("$from = [System.Net.IPEndPoint]::new([System.Net.IPAddress]::Any, 0)")
        .line("$datagram = $udp.Receive([ref]$from)              # recvfrom(): a datagram and who sent it")
        .line("$data = $Utf8.GetString($datagram)")
        .line("Write-Host \"received $data from $from\"")
        .line("$reply = Get-Reply $data \"$from\"")
        .open("if ($reply) {")
        .line("$bytes = $Utf8.GetBytes($reply)")
        .line("$udp.Send($bytes, $bytes.Length, $from) | Out-Null   # sendto()")
        .close(Some("}"))
        .close(Some("}"));
}

fn tcp_client(p: &Program, c: &mut Code) {
    preamble(p, c);
    c.line(
        "$client = [System.Net.Sockets.TcpClient]::new($HostName, $Port)   # socket(), connect()",
    )
    .line("$stream = $client.GetStream()")
    .line("Write-Host \"connected from $($client.Client.LocalEndPoint)\"   # the ephemeral port");
    if p.save {
        c.line("$file = [System.IO.File]::Create((Join-Path $PWD 'received.bin'))")
            .line("$stream.CopyTo($file)                            # recv() until the server closes")
            .line("$file.Close()")
            .line("Write-Host \"saved received.bin SHA-256 $((Get-FileHash received.bin -Algorithm SHA256).Hash.ToLower())\"")
            .line("$client.Close()                                  # close()");
        return;
    }
    c.line(format!("$buffer = New-Object byte[] {}", p.recv_size));
    if p.behavior == Behavior::Manual {
        c.open("while ($null -ne ($line = [Console]::In.ReadLine())) {   # each line you type")
            .line("$bytes = $Utf8.GetBytes($line + \"`n\")")
            .line("$stream.Write($bytes, 0, $bytes.Length)          # send()")
            .line("Start-Sleep -Milliseconds 200                    # give the reply a moment")
            .open("while ($stream.DataAvailable) {")
            .line("$n = $stream.Read($buffer, 0, $buffer.Length)    # recv()")
            .line("Write-Host \"received $($Utf8.GetString($buffer, 0, $n))\"")
            .close(Some("}"))
            .close(Some("}"))
            .line("$client.Client.Shutdown([System.Net.Sockets.SocketShutdown]::Send)   # no more to send");
    }
    c.open("while (($n = $stream.Read($buffer, 0, $buffer.Length)) -gt 0) {   # recv()")
        .line("$data = $Utf8.GetString($buffer, 0, $n)")
        .line("Write-Host \"received $data\"");
    if p.behavior != Behavior::Manual
        && let Some(e) = reply_expr(p.behavior)
    {
        c.line(format!("$bytes = $Utf8.GetBytes({e})"))
            .line("$stream.Write($bytes, 0, $bytes.Length)      # send()");
    }
    c.close(Some("}"))
        .line("$client.Close()                                  # close()");
}

fn udp_client(p: &Program, c: &mut Code) {
    preamble(p, c);
    c.line("$udp = [System.Net.Sockets.UdpClient]::new(0)   # socket(), bind(): any free port")
        .line("$server = [System.Net.IPEndPoint]::new([System.Net.IPAddress]::Parse($HostName), $Port)")
        .line("Write-Host \"bound to $($udp.Client.LocalEndPoint)\"");
    if p.behavior == Behavior::Manual {
        c.line("$udp.Client.ReceiveTimeout = 1000               # wait a second for each reply")
            .open("while ($null -ne ($line = [Console]::In.ReadLine())) {   # each line you type")
            .line("$bytes = $Utf8.GetBytes($line + \"`n\")")
            .line("$udp.Send($bytes, $bytes.Length, $server) | Out-Null   # sendto()")
            .line("$from = [System.Net.IPEndPoint]::new([System.Net.IPAddress]::Any, 0)")
            .line("try { Write-Host \"received $($Utf8.GetString($udp.Receive([ref]$from))) from $from\" } catch { }   # recvfrom()")
            .close(Some("}"))
            .line("$udp.Close()                                     # close()");
        return;
    }
    c.open("while ($true) {")
        .line("$from = [System.Net.IPEndPoint]::new([System.Net.IPAddress]::Any, 0)")
        .line("$data = $Utf8.GetString($udp.Receive([ref]$from))   # recvfrom()")
        .line("Write-Host \"received $data from $from\"");
    if let Some(e) = reply_expr(p.behavior) {
        c.line(format!("$bytes = $Utf8.GetBytes({e})"))
            .line("$udp.Send($bytes, $bytes.Length, $from) | Out-Null   # sendto()");
    }
    c.close(Some("}"));
}

/// The program.
pub fn program(p: &Program) -> String {
    super::with_header(
        p,
        Lang::Powershell,
        None,
        [tcp_server, udp_server, tcp_client, udp_client],
    )
}

#[cfg(test)]
mod tests {
    use super::string;

    #[test]
    fn strings_quote_for_powershell() {
        assert_eq!(string("it's $x"), "'it''s $x'");
        assert_eq!(string("a\n$b`\""), "\"a`n`$b```\"\"");
    }
}
