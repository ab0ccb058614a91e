# The program behind socketlab engine e1: a TCP chat server on 127.0.0.1:5000: a chat room: each message goes to the other members.
# Run it: pwsh e1_chat_server.ps1
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8
$MaxClients = 10

# Reply rules, tried on each message before the behavior: the first match answers.
$Rules = @(
    @{ Kind = 'exact'; Pattern = 'ping'; Reply = 'pong #{{counter}}'; Count = 0 }
    @{ Kind = 'contains'; Pattern = 'time'; Reply = 'it is {{time}}'; Count = 0 }
    @{ Kind = 'regex'; Pattern = '^HELLO (\w+)$'; Reply = 'hi {{match}}, you are {{peer}}; it''s "$5" [ok]'; Count = 0 }
)

function Get-RuleReply([string]$message, [string]$peer) {
    $text = $message.TrimEnd("`n").TrimEnd("`r")
    foreach ($rule in $Rules) {
        $found = $null
        switch ($rule.Kind) {
            'exact' { if ($text -ceq $rule.Pattern) { $found = $rule.Pattern } }
            'contains' { if ($text.Contains($rule.Pattern)) { $found = $rule.Pattern } }
            'regex' { $m = [regex]::Match($text, $rule.Pattern); if ($m.Success) { $found = if ($m.Groups.Count -gt 1) { $m.Groups[1].Value } else { $m.Value } } }
        }
        if ($null -eq $found) { continue }
        $rule.Count++
        $now = [DateTime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ssZ')
        $out = $rule.Reply.Replace('{{peer}}', $peer).Replace('{{time}}', $now)
        $out = $out.Replace('{{counter}}', [string]$rule.Count).Replace('{{match}}', $found)
        if ($message.EndsWith("`n") -and -not $out.EndsWith("`n")) { $out += "`n" }
        return $out
    }
    return $null
}

$listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Parse($HostName), $Port)   # socket(), bind()
$listener.Start(5)                                 # listen()
Write-Host "listening on ${HostName}:$Port"
$members = [System.Collections.Generic.List[System.Net.Sockets.TcpClient]]::new()
$buffer = New-Object byte[] 1024
function Send-Others($message, $sender) {
    $bytes = $Utf8.GetBytes($message)
    foreach ($m in @($members)) {
        if ($m -ne $sender) { try { $m.GetStream().Write($bytes, 0, $bytes.Length) } catch { } }
    }
}
# One loop polls for new members and for what each says, so one script holds them all.
while ($true) {
    while ($listener.Pending()) {
        $client = $listener.AcceptTcpClient()      # accept()
        if ($members.Count -ge $MaxClients) { $client.Close(); continue }   # the room is full
        $members.Add($client)
        $me = "$($client.Client.RemoteEndPoint)"
        $welcome = $Utf8.GetBytes("*** welcome $me; $($members.Count) online`n")
        $client.GetStream().Write($welcome, 0, $welcome.Length)
        Send-Others "*** $me joined ($($members.Count) online)`n" $client
    }
    foreach ($m in @($members)) {
        if (-not $m.Client.Poll(0, [System.Net.Sockets.SelectMode]::SelectRead)) { continue }
        $me = "$($m.Client.RemoteEndPoint)"
        $n = 0; try { $n = $m.GetStream().Read($buffer, 0, $buffer.Length) } catch { }   # recv()
        if ($n -eq 0) {
            $members.Remove($m) | Out-Null
            $m.Close()
            Send-Others "*** $me left ($($members.Count) online)`n" $null
            continue
        }
        foreach ($message in [regex]::Split($Utf8.GetString($buffer, 0, $n), '(?<=\n)')) {
            if ($message -eq '') { continue }
            $answer = Get-RuleReply $message $me
            if ($null -ne $answer) {
                $bytes = $Utf8.GetBytes($answer); $m.GetStream().Write($bytes, 0, $bytes.Length)
                continue
            }
            if (-not $message.EndsWith("`n")) { $message += "`n" }
            Send-Others "${me}: $message" $m
        }
    }
    Start-Sleep -Milliseconds 10
}
